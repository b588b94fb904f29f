// Package led drives the kiosk's status lights. The session only names a
// State; a driver maps it to hardware. This issue ships the log driver
// (one slog line per change); the GPIO driver (character device) comes next
// and implements the same LEDs interface.
package led

import (
	"fmt"
	"log/slog"
	"sync"
)

// State is what the lights show.
type State string

// States, in the vocabulary of the kiosk's light guide.
const (
	Idle       State = "idle"       // ready, no session
	Capturing  State = "capturing"  // look at the camera
	Processing State = "processing" // uploading / waiting for the gateway
	Success    State = "success"    // verified
	Failure    State = "failure"    // rejected or failed
	Degraded   State = "degraded"   // working, but the gateway or camera is struggling
)

// Valid reports whether s is one of the States above.
func (s State) Valid() bool {
	switch s {
	case Idle, Capturing, Processing, Success, Failure, Degraded:
		return true
	}
	return false
}

// LEDs shows a State. Set must not block (drivers buffer or drop) and is
// called from the session loop only.
type LEDs interface {
	Set(State)
}

// Drivers accepted by New ("gpio" arrives with the GPIO issue).
const DriverLog = "log"

// New returns the driver named by driver.
func New(driver string, logger *slog.Logger) (LEDs, error) {
	switch driver {
	case DriverLog, "":
		return NewLog(logger), nil
	}
	return nil, fmt.Errorf("led driver %q: unknown (want %q)", driver, DriverLog)
}

// Log is the log driver: it writes one info line (key "led") per change of
// state and ignores repeats.
type Log struct {
	mu     sync.Mutex
	logger *slog.Logger
	cur    State
}

// NewLog returns a log driver writing to logger (slog.Default() if nil).
func NewLog(logger *slog.Logger) *Log {
	if logger == nil {
		logger = slog.Default()
	}
	return &Log{logger: logger.With("component", "led")}
}

// Set logs s if it differs from the current state.
func (l *Log) Set(s State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == l.cur {
		return
	}
	l.cur = s
	l.logger.Info("led", "led", string(s))
}

// Recorder is a fake LEDs for tests: it records every Set call.
type Recorder struct {
	mu     sync.Mutex
	states []State
}

// Set records s.
func (r *Recorder) Set(s State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
}

// States returns a copy of the recorded states, oldest first.
func (r *Recorder) States() []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]State(nil), r.states...)
}
