package capture_test

import (
	"context"
	"errors"
	"image/color"
	"log/slog"
	"testing"
	"time"

	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/capture/capturetest"
	"github.com/faceverify/faceverify/internal/clock"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// guard bounds every real-time wait in these tests. It only turns a hang
// into a failure: the supervisor's goroutine normally answers within
// microseconds, but on a machine with every core busy it may not run for
// seconds.
const guard = time.Minute

type rig struct {
	cam    *capturetest.Camera
	clk    *clock.Fake
	sup    *capture.Supervisor
	cancel context.CancelFunc
	done   chan struct{}
}

func newRig(t *testing.T, plugged bool) *rig {
	t.Helper()
	r := &rig{cam: capturetest.NewCamera(plugged), clk: clock.NewFake(t0), done: make(chan struct{})}
	r.sup = capture.NewSupervisor(r.cam, capture.SupervisorOptions{
		RetryMin: time.Second, RetryMax: 8 * time.Second, CheckEvery: 5 * time.Second,
		Clock: r.clk, Logger: slog.New(slog.DiscardHandler),
	})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { defer close(r.done); r.sup.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-r.done })
	select {
	case <-r.sup.Checked():
	case <-time.After(guard):
		t.Fatal("first check did not finish")
	}
	// Start every test with Run parked after its first check (CheckEvery
	// when the camera is there, RetryMin when not): a poke or an Advance
	// that came while Run was still between the check and its wait would
	// otherwise race with it.
	first := 5 * time.Second
	if !plugged {
		first = time.Second
	}
	r.parked(t, first)
	return r
}

// tick waits until Run parks on the clock with exactly the delay d, then
// fires it. Waiting for that very delay (not for any pending timer) matters:
// when a poke wakes Run, the timer it was waiting on stays pending on the
// fake clock, and advancing before Run parks again would fire nothing.
func (r *rig) tick(t *testing.T, d time.Duration) {
	t.Helper()
	if !r.clk.BlockUntilDue(d, guard) {
		t.Fatalf("supervisor did not wait %v on the clock", d)
	}
	r.clk.Advance(d)
}

// parked waits until Run waits d on the clock: the check before it is done.
func (r *rig) parked(t *testing.T, d time.Duration) {
	t.Helper()
	if !r.clk.BlockUntilDue(d, guard) {
		t.Fatalf("no next check scheduled in %v", d)
	}
}

// eventually polls cond in real time (the supervisor runs in a goroutine).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func healthIs(s *capture.Supervisor, state, reason string) func() bool {
	return func() bool { h := s.Health(); return h.State == state && h.Reason == reason }
}

func TestSupervisorPresentAtStart(t *testing.T) {
	r := newRig(t, true)
	if h := r.sup.Health(); h.State != capture.HealthOK || h.Reason != "" {
		t.Fatalf("health = %+v, want ok", h)
	}
	if r.cam.Opens() != 1 || r.cam.IsOpen() {
		t.Fatalf("first check: opens=%d open=%v, want one trial open, closed again", r.cam.Opens(), r.cam.IsOpen())
	}
}

func TestSupervisorAbsentAtStartThenPlugged(t *testing.T) {
	r := newRig(t, false)
	h := r.sup.Health()
	if h.State != capture.HealthDegraded || h.Reason != capture.ReasonAbsent {
		t.Fatalf("health = %+v, want degraded CAMERA_ABSENT", h)
	}
	// A session launched now fails to open, with the absent error.
	err := r.sup.Open(context.Background())
	if !errors.Is(err, capture.ErrNoDevice) {
		t.Fatalf("Open while absent = %v, want ErrNoDevice", err)
	}
	if got := r.sup.Health().Reason; got != capture.ReasonAbsent {
		t.Fatalf("reason after failed open = %q, want still CAMERA_ABSENT", got)
	}
	// Backoff: 1s, 2s, 4s, then capped at 8s; still absent.
	delays := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, d := range delays {
		r.tick(t, d)
		next := 8 * time.Second
		if i+1 < len(delays) {
			next = delays[i+1]
		}
		r.parked(t, next)
		if h := r.sup.Health(); h.Reason != capture.ReasonAbsent {
			t.Fatalf("after %v: %+v, want still absent", d, h)
		}
	}
	r.cam.Plug()
	r.tick(t, 8*time.Second)
	eventually(t, "ok after plug", healthIs(r.sup, capture.HealthOK, ""))
	if h := r.sup.Health(); !h.Since.Equal(t0.Add(31 * time.Second)) {
		t.Fatalf("since = %v, want the time of the successful check", h.Since)
	}
}

func TestSupervisorLostMidSessionAndBack(t *testing.T) {
	r := newRig(t, true)
	ctx := context.Background()
	if err := r.sup.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sup.Next(ctx); err != nil {
		t.Fatal(err)
	}
	r.cam.Unplug()
	_, err := r.sup.Next(ctx)
	if !errors.Is(err, capture.ErrDeviceLost) {
		t.Fatalf("Next after unplug = %v, want ErrDeviceLost", err)
	}
	if h := r.sup.Health(); h.State != capture.HealthDegraded || h.Reason != capture.ReasonLost {
		t.Fatalf("health = %+v, want degraded CAMERA_LOST", h)
	}
	r.sup.Close()
	// The poker woke Run; the probe confirms the camera is gone, and the
	// reason stays LOST (it was seen before), not ABSENT.
	r.tick(t, time.Second)
	r.tick(t, 2*time.Second)
	r.parked(t, 4*time.Second)
	if h := r.sup.Health(); h.Reason != capture.ReasonLost {
		t.Fatalf("while unplugged: %+v, want CAMERA_LOST", h)
	}
	opensBefore := r.cam.Opens()
	r.cam.Plug()
	r.tick(t, 4*time.Second)
	eventually(t, "ok after re-plug", healthIs(r.sup, capture.HealthOK, ""))
	if r.cam.Opens() != opensBefore+1 {
		t.Fatalf("opens = %d, want one trial reopen after %d", r.cam.Opens(), opensBefore)
	}
	// The next session opens and streams normally.
	if err := r.sup.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sup.Next(ctx); err != nil {
		t.Fatalf("Next after comeback: %v", err)
	}
	r.sup.Close()
}

func TestSupervisorUnplugWhileIdle(t *testing.T) {
	r := newRig(t, true)
	r.cam.Unplug()
	r.tick(t, 5*time.Second) // idle presence check
	eventually(t, "lost while idle", healthIs(r.sup, capture.HealthDegraded, capture.ReasonLost))
}

func TestSupervisorPresentButFailing(t *testing.T) {
	cam := capturetest.NewCamera(true)
	cam.OpenErr = errors.New("device busy")
	clk := clock.NewFake(t0)
	sup := capture.NewSupervisor(cam, capture.SupervisorOptions{Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sup.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-sup.Checked()
	h := sup.Health()
	if h.State != capture.HealthDegraded || h.Reason != capture.ReasonError || h.Detail != "device busy" {
		t.Fatalf("health = %+v, want degraded CAMERA_ERROR with the detail", h)
	}
}

func TestSupervisorSkipsTrialWhileInUse(t *testing.T) {
	r := newRig(t, true)
	ctx := context.Background()
	if err := r.sup.Open(ctx); err != nil {
		t.Fatal(err)
	}
	r.cam.Unplug()
	r.tick(t, 5*time.Second) // idle presence check sees it gone
	eventually(t, "lost", healthIs(r.sup, capture.HealthDegraded, capture.ReasonLost))
	r.cam.Plug()
	opens := r.cam.Opens()
	r.tick(t, time.Second) // present again, but the session still holds the source
	r.parked(t, 2*time.Second)
	if r.cam.Opens() != opens {
		t.Fatalf("trial open while a session holds the camera: opens %d → %d", opens, r.cam.Opens())
	}
	if h := r.sup.Health(); h.Reason != capture.ReasonLost {
		t.Fatalf("health = %+v, want still CAMERA_LOST until reopened", h)
	}
	r.sup.Close()
	r.tick(t, 2*time.Second)
	eventually(t, "ok after trial reopen", healthIs(r.sup, capture.HealthOK, ""))
}

func TestSupervisorStalledAndRecovered(t *testing.T) {
	src := &capturetest.Source{Steps: []capturetest.Step{
		{Err: errors.Join(capture.ErrFrameTimeout, errors.New("no frame in 2s"))},
		{Image: capturetest.Frame(2, 2, color.Gray{Y: 9})},
	}}
	sup := capture.NewSupervisor(src, capture.SupervisorOptions{Clock: clock.NewFake(t0), Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	if err := sup.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if h := sup.Health(); h.State != capture.HealthOK {
		t.Fatalf("after open: %+v", h)
	}
	if _, err := sup.Next(ctx); !errors.Is(err, capture.ErrFrameTimeout) {
		t.Fatalf("Next = %v, want the timeout passed through", err)
	}
	if h := sup.Health(); h.State != capture.HealthDegraded || h.Reason != capture.ReasonStalled {
		t.Fatalf("after timeout: %+v, want CAMERA_STALLED", h)
	}
	if _, err := sup.Next(ctx); err != nil {
		t.Fatal(err)
	}
	if h := sup.Health(); h.State != capture.HealthOK {
		t.Fatalf("after a frame: %+v, want ok", h)
	}
}
