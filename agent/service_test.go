package agent

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/agent/control"
	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/internal/clock"
	"github.com/faceverify/faceverify/uplink/gateway"
)

// fakeService records notifications; each Ready and Alive also signals
// notified (buffered 1, so a waiter sees "at least one since I looked").
type fakeService struct {
	interval time.Duration
	notified chan struct{} // nil: no signal
	mu       sync.Mutex
	ready    []string
	alive    int
	stopping int
}

func (f *fakeService) Ready(s string) {
	f.mu.Lock()
	f.ready = append(f.ready, s)
	f.mu.Unlock()
	f.signal()
}
func (f *fakeService) Stopping() { f.mu.Lock(); f.stopping++; f.mu.Unlock() }
func (f *fakeService) Alive() {
	f.mu.Lock()
	f.alive++
	f.mu.Unlock()
	f.signal()
}
func (f *fakeService) WatchdogInterval() time.Duration { return f.interval }

func (f *fakeService) signal() {
	select {
	case f.notified <- struct{}{}:
	default:
	}
}

// waitAlive waits (real time, generous for a loaded machine) until Alive
// has been called more than n times in all.
func (f *fakeService) waitAlive(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if _, alive, _ := f.counts(); alive > n {
			return
		}
		select {
		case <-f.notified:
		case <-deadline:
			_, alive, _ := f.counts()
			t.Fatalf("Alive called %d times, want more than %d", alive, n)
		}
	}
}
func (f *fakeService) counts() (ready []string, alive, stopping int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ready...), f.alive, f.stopping
}

// stuckLEDs blocks Set(block) until release is closed, freezing the
// session loop that calls it.
type stuckLEDs struct {
	block   led.State
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *stuckLEDs) Set(st led.State) {
	if st == s.block {
		s.once.Do(func() { close(s.entered) })
		<-s.release
	}
}

func TestWatchdogPingsFromSessionLoop(t *testing.T) {
	cfg := testCfg()
	cfg.API.Listen = ""
	clk := clock.NewFake(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	svc := &fakeService{interval: 10 * time.Second, notified: make(chan struct{}, 1)}
	leds := &stuckLEDs{block: led.Capturing, entered: make(chan struct{}), release: make(chan struct{})}
	a, err := New(cfg, Deps{
		Source: source(green), Analyzer: &agenttest.Analyzer{Default: agenttest.NoFace()},
		Gateway: gateway.New(gateway.Options{}), LEDs: leds, Clock: clk, Service: svc,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	<-a.Ready()

	// The idle loop wakes for each watchdog interval and pings.
	if !clk.BlockUntil(1, 20*time.Second) {
		t.Fatal("idle loop set no heartbeat timer")
	}
	var ready []string
	for deadline := time.After(20 * time.Second); len(ready) == 0; {
		if ready, _, _ = svc.counts(); len(ready) > 0 {
			break
		}
		select {
		case <-svc.notified:
		case <-deadline:
			t.Fatal("no Ready call")
		}
	}
	if len(ready) != 1 || !strings.Contains(ready[0], "serving") || !strings.Contains(ready[0], "ok") {
		t.Fatalf("Ready calls = %q, want one saying serving with the camera ok", ready)
	}
	_, alive0, _ := svc.counts()
	for i := 0; i < 3; i++ {
		clk.Advance(10 * time.Second)
		svc.waitAlive(t, alive0+i) // this interval's ping
		if !clk.BlockUntil(1, 20*time.Second) {
			t.Fatal("loop did not re-arm its heartbeat")
		}
	}
	_, alive1, _ := svc.counts()
	if alive1 < alive0+3 {
		t.Fatalf("Alive called %d times over 3 intervals, want ≥ 3", alive1-alive0)
	}

	// A loop stuck inside an action stops pinging.
	go a.Launch(ctx, control.LaunchRequest{Token: "t", CorrelationID: "c1", BaseURL: "https://gw.example.com"})
	select {
	case <-leds.entered:
	case <-time.After(time.Minute):
		t.Fatal("session did not start")
	}
	_, stuckAt, _ := svc.counts()
	for i := 0; i < 3; i++ {
		clk.Advance(10 * time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	if _, n, _ := svc.counts(); n != stuckAt {
		t.Fatalf("stuck loop pinged %d more times, want 0", n-stuckAt)
	}
	close(leds.release)
	// The released loop re-arms its heartbeat at a moment the test cannot
	// see (session timers share the clock), so keep the clock moving until
	// a ping is signalled.
	deadline := time.After(20 * time.Second)
	for pinged := false; !pinged; {
		clk.Advance(10 * time.Second)
		select {
		case <-svc.notified:
			_, n, _ := svc.counts()
			pinged = n > stuckAt
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatal("released loop did not ping again")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	done <- nil
	if _, _, stopping := svc.counts(); stopping != 1 {
		t.Fatalf("Stopping called %d times, want 1", stopping)
	}
}
