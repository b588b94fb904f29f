package agent

import (
	"context"
	"time"
)

// notifyReady tells the service manager the agent serves, once the
// camera's state is known (open, or absent and reported degraded). The
// models are loaded before the agent is made.
func (a *Agent) notifyReady(ctx context.Context) {
	if a.d.Service == nil {
		return
	}
	go func() {
		select {
		case <-a.CameraChecked():
		case <-ctx.Done():
			return
		}
		ch := a.CameraHealth()
		status := "serving; camera " + ch.Camera + " " + ch.State
		if ch.Reason != "" {
			status += " (" + ch.Reason + ")"
		}
		a.d.Service.Ready(status)
	}()
}

// notifyStopping tells the service manager the agent stops.
func (a *Agent) notifyStopping() {
	if a.d.Service != nil {
		a.d.Service.Stopping()
	}
}

// heartbeat is called by the session loop on every iteration: it pings the
// watchdog and returns the channel that wakes the idle loop in time for the
// next ping (nil without a watchdog).
func (a *Agent) heartbeat() <-chan time.Time {
	if a.d.Service == nil {
		return nil
	}
	a.d.Service.Alive()
	if iv := a.d.Service.WatchdogInterval(); iv > 0 {
		return a.d.Clock.After(iv)
	}
	return nil
}
