package agent

import (
	"context"
	"slices"

	"github.com/faceverify/faceverify/capture"
)

// cameraHealther is a Source that keeps its own health, such as
// capture.Supervisor.
type cameraHealther interface {
	Health() capture.Health
}

// cameraRunner is a Source with a background loop (capture.Supervisor
// polls an absent or lost camera); Run starts it with the agent.
type cameraRunner interface {
	Run(ctx context.Context) error
}

// CameraHealth returns the camera's health: the Source's own when it
// keeps one (capture.Supervisor), otherwise ok since the agent was made.
// Since is never the zero time.
func (a *Agent) CameraHealth() capture.Health {
	if h, ok := a.d.Source.(cameraHealther); ok {
		ch := h.Health()
		if ch.Since.IsZero() {
			ch.Since = a.cameraSince
		}
		return ch
	}
	return capture.Health{State: capture.HealthOK, Camera: a.d.Source.Name(), Since: a.cameraSince}
}

// CameraChecked is closed once the camera's state is known (the
// supervisor's first check), so readiness can be announced with the camera
// open or degraded; it is closed from the start for unsupervised sources.
func (a *Agent) CameraChecked() <-chan struct{} {
	if c, ok := a.d.Source.(interface{ Checked() <-chan struct{} }); ok {
		return c.Checked()
	}
	closed := make(chan struct{})
	close(closed)
	return closed
}

// cameraActor returns the Source's background loop, or nil.
func (a *Agent) cameraActor() func(context.Context) error {
	if r, ok := a.d.Source.(cameraRunner); ok {
		return r.Run
	}
	return nil
}

// initCameraHealth registers the camera with the health registry, so
// that /healthz, the degraded metric and MQTT status see CAMERA_ABSENT,
// CAMERA_LOST, CAMERA_ERROR or CAMERA_STALLED.
func (a *Agent) initCameraHealth() {
	a.cameraSince = a.d.Clock.Now()
	if _, ok := a.d.Source.(cameraHealther); !ok {
		return
	}
	a.health.Probe("camera", func() (bool, string) {
		h := a.CameraHealth()
		return h.State == capture.HealthOK, h.Reason
	})
}

// addCameraHealth puts the camera's health into h: a degraded camera makes
// the whole status degraded with its reason (CAMERA_ABSENT, CAMERA_LOST,
// CAMERA_ERROR, CAMERA_STALLED).
func (a *Agent) addCameraHealth(h *Health) {
	ch := a.CameraHealth()
	h.CameraHealth = &ch
	if ch.State != capture.HealthOK {
		h.Status = "degraded"
		if !slices.Contains(h.Reasons, ch.Reason) {
			h.Reasons = append(h.Reasons, ch.Reason)
		}
	}
}
