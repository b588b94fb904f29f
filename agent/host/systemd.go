// Package host integrates the agent with the machine it runs on: systemd
// readiness and watchdog notifications (sd_notify) and readings from sysfs
// (the CPU temperature), each read through a path or socket passed in so
// tests point it at fixtures.
package host

import (
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// ServiceNotifier tells the service manager about the agent's life: Run
// calls Ready once the agent serves (models loaded, session loop and API
// up) and Stopping when it begins to stop; the session loop calls Alive on
// every iteration, and at least every WatchdogInterval while idle, so a
// stuck loop stops the pings and the service manager restarts the agent.
// Implementations must not block.
type ServiceNotifier interface {
	// Ready reports that the agent serves; status is a one-line summary.
	Ready(status string)
	// Stopping reports that the agent is shutting down.
	Stopping()
	// Alive is the session loop's heartbeat.
	Alive()
	// WatchdogInterval is the longest gap allowed between Alive calls;
	// 0 means no watchdog, and the loop sets no heartbeat timer.
	WatchdogInterval() time.Duration
}

// Systemd is the ServiceNotifier for a systemd unit with Type=notify and
// WatchdogSec: it sends sd_notify(3) messages (READY=1, STATUS=,
// STOPPING=1, WATCHDOG=1) to $NOTIFY_SOCKET. Outside systemd (no
// NOTIFY_SOCKET) every method is a no-op. WATCHDOG=1 is sent at most every
// quarter of the watchdog timeout (WATCHDOG_USEC), whatever the Alive rate.
type Systemd struct {
	log      *slog.Logger
	timeout  time.Duration // WatchdogSec; 0 when disabled
	notify   func(state string) (bool, error)
	now      func() time.Time
	mu       sync.Mutex
	lastPing time.Time
	warned   bool
}

// NewSystemd reads the watchdog settings systemd put in the environment
// (WATCHDOG_USEC, WATCHDOG_PID) and returns the notifier. Errors in them
// are logged and disable the watchdog.
func NewSystemd(logger *slog.Logger) *Systemd {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Systemd{
		log:    logger.With("component", "systemd"),
		notify: func(state string) (bool, error) { return daemon.SdNotify(false, state) },
		now:    time.Now,
	}
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		s.log.Warn("watchdog settings unusable, watchdog off", "err", err)
	}
	s.timeout = d
	if d > 0 {
		s.log.Info("systemd watchdog on", "timeout", d)
	}
	return s
}

// WatchdogInterval is half the watchdog timeout (0 without a watchdog).
func (s *Systemd) WatchdogInterval() time.Duration { return s.timeout / 2 }

// Ready sends READY=1 and STATUS=status.
func (s *Systemd) Ready(status string) {
	s.send(daemon.SdNotifyReady + "\nSTATUS=" + oneLine(status))
}

// Stopping sends STOPPING=1.
func (s *Systemd) Stopping() { s.send(daemon.SdNotifyStopping) }

// Alive sends WATCHDOG=1 when the watchdog is on and a quarter of its
// timeout has passed since the last ping.
func (s *Systemd) Alive() {
	if s.timeout <= 0 {
		return
	}
	now := s.now()
	s.mu.Lock()
	due := s.lastPing.IsZero() || now.Sub(s.lastPing) >= s.timeout/4
	if due {
		s.lastPing = now
	}
	s.mu.Unlock()
	if due {
		s.send(daemon.SdNotifyWatchdog)
	}
}

func (s *Systemd) send(state string) {
	if _, err := s.notify(state); err != nil {
		s.mu.Lock()
		first := !s.warned
		s.warned = true
		s.mu.Unlock()
		if first {
			s.log.Warn("sd_notify failed", "err", err)
		}
	}
}

func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
}
