package capture

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/faceverify/faceverify/internal/clock"
)

// Camera health states and degraded reasons, as /healthz and MQTT status
// show them.
const (
	HealthOK       = "ok"
	HealthDegraded = "degraded"

	// ReasonAbsent: the camera has not been present since start.
	ReasonAbsent = "CAMERA_ABSENT"
	// ReasonLost: the camera was present and disappeared (unplugged,
	// driver reset); it is reopened when it comes back.
	ReasonLost = "CAMERA_LOST"
	// ReasonError: the camera is present but cannot be opened (busy,
	// permission, no usable format).
	ReasonError = "CAMERA_ERROR"
	// ReasonStalled: the open camera delivered no frame within its frame
	// timeout.
	ReasonStalled = "CAMERA_STALLED"
)

// Health is a camera's condition: State is HealthOK or HealthDegraded; a
// degraded camera carries a Reason (ReasonAbsent, ReasonLost, ReasonError,
// ReasonStalled) and Detail, the last error text (no image data). Since is
// when the state or reason last changed, from the supervisor's clock.
type Health struct {
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Camera string    `json:"camera"`
	Since  time.Time `json:"since"`
}

// Prober is implemented by sources that can tell cheaply, without opening
// the camera, whether it is there (e.g. v4l2: the device node or by-id name
// resolves). Present returns nil or an error wrapping ErrNoDevice.
type Prober interface {
	Present() error
}

// SupervisorOptions configure a Supervisor. Zero fields take the defaults
// in brackets.
type SupervisorOptions struct {
	// RetryMin and RetryMax bound the backoff between checks while the
	// camera is degraded; the delay doubles from RetryMin up to RetryMax
	// [500ms, 10s].
	RetryMin, RetryMax time.Duration
	// CheckEvery is the presence check interval while the camera is healthy
	// and idle, so that an unplug between sessions shows in health [5s].
	CheckEvery time.Duration
	// Clock paces the checks [clock.Real]. A clock.TimerClock (Real and
	// *Fake are) lets Run cancel the wait a poke cut short, so a fake clock
	// in a test holds exactly the wait Run is parked on.
	Clock clock.Clock
	// Logger receives one line per health change [slog.Default()].
	Logger *slog.Logger
}

// Supervisor wraps a camera Source and keeps its health: it is itself a
// Source (Open, Next and Close pass through and update health), and Run
// polls the camera with backoff while it is absent or lost, reporting
// HealthOK again once it can be opened. A camera absent at start therefore
// leaves the agent running in degraded mode (ReasonAbsent) until it is
// plugged in; a camera unplugged mid-session ends that session (Next returns
// the source's ErrDeviceLost) and turns health to ReasonLost until it
// returns, possibly under another device node (the source resolves its
// name at every Open).
//
// Recovery check: when the wrapped source is a Prober, Present must
// succeed; then the source is opened and closed once (skipped while a
// session holds it). Without a Prober only the open check is made.
type Supervisor struct {
	src  Source
	opts SupervisorOptions
	log  *slog.Logger

	dev   sync.Mutex // serialises src.Open/Close between the user and checks
	inUse bool       // guarded by dev: the user holds the source open

	mu      sync.Mutex
	health  Health
	seen    bool // the camera was present at least once
	checked chan struct{}
	once    sync.Once
	wake    chan struct{}
}

// NewSupervisor wraps src. Health starts as degraded ReasonAbsent until the
// first check (Run) or a successful Open says otherwise.
func NewSupervisor(src Source, opts SupervisorOptions) *Supervisor {
	if opts.RetryMin <= 0 {
		opts.RetryMin = 500 * time.Millisecond
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(10*time.Second, opts.RetryMin)
	}
	if opts.CheckEvery <= 0 {
		opts.CheckEvery = 5 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Supervisor{
		src:     src,
		opts:    opts,
		log:     opts.Logger.With("component", "camera", "camera", src.Name()),
		checked: make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}
	s.health = Health{State: HealthDegraded, Reason: ReasonAbsent, Detail: "not checked yet", Camera: src.Name(), Since: opts.Clock.Now()}
	return s
}

// Name returns the wrapped source's name.
func (s *Supervisor) Name() string { return s.src.Name() }

// Health returns the current camera health.
func (s *Supervisor) Health() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health
}

// Checked is closed once the first check finished (or the first Open
// returned), so a caller can announce readiness with a known camera state.
func (s *Supervisor) Checked() <-chan struct{} { return s.checked }

// Open opens the wrapped source, whatever the current health (the camera
// may have just come back), and updates health from the result.
func (s *Supervisor) Open(ctx context.Context) error {
	s.dev.Lock()
	defer s.dev.Unlock()
	err := s.src.Open(ctx)
	if err == nil {
		s.inUse = true
	}
	if ctx.Err() == nil || err == nil {
		s.observeOpen(err)
	}
	return err
}

// Next reads the wrapped source. capture.ErrDeviceLost turns health to
// ReasonLost and wakes the poller; ErrFrameTimeout to ReasonStalled; a
// frame turns it back to ok.
func (s *Supervisor) Next(ctx context.Context) (Frame, error) {
	f, err := s.src.Next(ctx)
	switch {
	case err == nil:
		s.set(HealthOK, "", nil)
	case errors.Is(err, ErrDeviceLost):
		s.set(HealthDegraded, ReasonLost, err)
		s.poke()
	case errors.Is(err, ErrFrameTimeout):
		s.set(HealthDegraded, ReasonStalled, err)
		s.poke()
	}
	return f, err
}

// Close closes the wrapped source; it may be called twice.
func (s *Supervisor) Close() error {
	s.dev.Lock()
	defer s.dev.Unlock()
	s.inUse = false
	return s.src.Close()
}

// Run checks the camera at once, then again every CheckEvery while healthy
// and with backoff (RetryMin doubling to RetryMax) while degraded, until
// ctx ends. It returns nil.
func (s *Supervisor) Run(ctx context.Context) error {
	delay := s.opts.RetryMin
	for {
		s.check(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := s.opts.CheckEvery
		if s.Health().State == HealthDegraded {
			wait = delay
			delay = min(2*delay, s.opts.RetryMax)
		} else {
			delay = s.opts.RetryMin
		}
		timer, stop := s.after(wait)
		select {
		case <-ctx.Done():
			stop()
			return nil
		case <-timer:
		case <-s.wake:
			stop()
			delay = s.opts.RetryMin
		}
	}
}

// after waits d on the clock, cancellably when the clock allows it.
func (s *Supervisor) after(d time.Duration) (<-chan time.Time, func() bool) {
	if tc, ok := s.opts.Clock.(clock.TimerClock); ok {
		return tc.Timer(d)
	}
	return s.opts.Clock.After(d), func() bool { return false }
}

// check probes the camera once and updates health.
func (s *Supervisor) check(ctx context.Context) {
	defer s.once.Do(func() { close(s.checked) })
	if p, ok := s.src.(Prober); ok {
		if err := p.Present(); err != nil {
			s.observeOpen(err)
			return
		}
	}
	h := s.Health()
	if h.State == HealthOK {
		return // present and healthy: no need to open it
	}
	s.dev.Lock()
	defer s.dev.Unlock()
	if s.inUse {
		return // a session holds it; its frames or errors update health
	}
	err := s.src.Open(ctx)
	if err == nil {
		err = s.src.Close()
	}
	if ctx.Err() != nil {
		return
	}
	s.observeOpen(err)
}

// observeOpen updates health from an Open or Present result.
func (s *Supervisor) observeOpen(err error) {
	defer s.once.Do(func() { close(s.checked) })
	switch {
	case err == nil:
		s.set(HealthOK, "", nil)
	case errors.Is(err, ErrNoDevice):
		s.mu.Lock()
		reason := ReasonAbsent
		if s.seen {
			reason = ReasonLost
		}
		s.mu.Unlock()
		s.set(HealthDegraded, reason, err)
	default:
		s.set(HealthDegraded, ReasonError, err)
	}
}

func (s *Supervisor) set(state, reason string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason != ReasonAbsent {
		s.seen = true // healthy, lost, stalled or failing: it was there
	}
	detail := ""
	if err != nil {
		detail = err.Error()
	}
	old := s.health
	if old.State == state && old.Reason == reason {
		s.health.Detail = detail
		return
	}
	s.health = Health{State: state, Reason: reason, Detail: detail, Camera: s.src.Name(), Since: s.opts.Clock.Now()}
	if state == HealthOK {
		s.log.Info("camera ok", "was", old.Reason)
	} else {
		s.log.Warn("camera degraded", "reason", reason, "err", detail)
	}
}

// poke wakes Run for an immediate check with reset backoff.
func (s *Supervisor) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
