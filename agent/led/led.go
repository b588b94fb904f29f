// Package led drives the kiosk's status lights. The session only names a
// State; a driver maps it to hardware. Two drivers implement LEDs: the log
// driver here (one slog line per change) and the GPIO driver in
// agent/led/gpioled (Linux GPIO character device, blinking patterns).
//
// Optional capabilities are separate interfaces a driver may implement:
// Identifier (a short "find me" blink) and HealthReporter (which driver is
// really running, and why not the configured one).
package led

import (
	"fmt"
	"log/slog"
	"sync"
	"time"
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

// Identifier is implemented by drivers that can blink an "identify"
// pattern (all lights flashing together) for d, so a technician can find
// the kiosk; the current State resumes afterwards. It must not block.
type Identifier interface {
	Identify(d time.Duration)
}

// Health is the status-light part of the agent's health report.
type Health struct {
	// Configured is the driver named by led.driver.
	Configured string `json:"configured"`
	// Driver is the driver actually running ("log" after a fallback).
	Driver string `json:"driver"`
	// OK is false when the configured driver could not start or its last
	// write failed.
	OK bool `json:"ok"`
	// Reason says why OK is false (e.g. "open GPIO17: no GPIO chips found").
	Reason string `json:"reason,omitempty"`
}

// HealthReporter is implemented by drivers that report their health.
type HealthReporter interface {
	Health() Health
}

// Drivers named by led.driver. DriverGPIO is built by agent/led/gpioled;
// New only builds the log driver.
const (
	DriverLog  = "log"
	DriverGPIO = "gpio"
)

// New returns the driver named by driver ("log" or ""). "gpio" needs pin
// names and is opened with gpioled.Open; New returns an error for it.
func New(driver string, logger *slog.Logger) (LEDs, error) {
	switch driver {
	case DriverLog, "":
		return NewLog(logger), nil
	}
	return nil, fmt.Errorf("led driver %q: unknown to led.New (want %q; %q is opened by gpioled)", driver, DriverLog, DriverGPIO)
}

// Fallback is the log driver standing in for a configured driver that
// failed to open; Health reports the configured driver and the reason.
type Fallback struct {
	*Log
	configured string
	reason     string
}

// NewFallback returns a log driver that reports, in Health, that the
// configured driver could not start because of cause. It logs cause once
// at warn level.
func NewFallback(configured string, cause error, logger *slog.Logger) *Fallback {
	l := NewLog(logger)
	reason := "unknown"
	if cause != nil {
		reason = cause.Error()
	}
	l.logger.Warn("led driver unavailable, using the log driver", "driver", configured, "err", reason)
	return &Fallback{Log: l, configured: configured, reason: reason}
}

// Health reports the fallback: OK false, Driver "log", the reason.
func (f *Fallback) Health() Health {
	return Health{Configured: f.configured, Driver: DriverLog, OK: false, Reason: f.reason}
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

// Identify logs an identify request of duration d.
func (l *Log) Identify(d time.Duration) {
	l.logger.Info("led identify", "duration", d)
}

// Health reports the log driver as configured and healthy.
func (l *Log) Health() Health {
	return Health{Configured: DriverLog, Driver: DriverLog, OK: true}
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
