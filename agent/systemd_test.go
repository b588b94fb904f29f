package agent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/internal/clock"
	"github.com/faceverify/faceverify/uplink/gateway"
)

// notifySocket listens on a unixgram socket like systemd's and returns
// the received messages on a channel.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdnotify") // short path: sun_path is 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	msgs := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return path, msgs
}

func recv(t *testing.T, msgs <-chan string) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no sd_notify message")
		return ""
	}
}

func noMessage(t *testing.T, msgs <-chan string) {
	t.Helper()
	select {
	case m := <-msgs:
		t.Fatalf("unexpected sd_notify message %q", m)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestSystemdNotifyProtocol(t *testing.T) {
	path, msgs := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "20000000") // WatchdogSec=20s
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	s := NewSystemd(slog.New(slog.DiscardHandler))
	if got := s.WatchdogInterval(); got != 10*time.Second {
		t.Fatalf("WatchdogInterval = %v, want 10s (half of WatchdogSec)", got)
	}
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }

	s.Ready("serving; camera /dev/video0\nsecond line")
	if m := recv(t, msgs); m != "READY=1\nSTATUS=serving; camera /dev/video0 second line" {
		t.Fatalf("ready message = %q", m)
	}
	s.Alive()
	if m := recv(t, msgs); m != "WATCHDOG=1" {
		t.Fatalf("first ping = %q", m)
	}
	// Pings are rate-limited to a quarter of the timeout (5s).
	now = now.Add(4 * time.Second)
	s.Alive()
	noMessage(t, msgs)
	now = now.Add(time.Second)
	s.Alive()
	if m := recv(t, msgs); m != "WATCHDOG=1" {
		t.Fatalf("ping after 5s = %q", m)
	}
	s.Stopping()
	if m := recv(t, msgs); m != "STOPPING=1" {
		t.Fatalf("stopping message = %q", m)
	}
}

func TestSystemdWatchdogForAnotherPID(t *testing.T) {
	path, msgs := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "20000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1)) // meant for another process
	s := NewSystemd(slog.New(slog.DiscardHandler))
	if got := s.WatchdogInterval(); got != 0 {
		t.Fatalf("WatchdogInterval = %v, want 0 when WATCHDOG_PID is another process", got)
	}
	s.Alive()
	noMessage(t, msgs)
}

func TestSystemdOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	os.Unsetenv("NOTIFY_SOCKET")
	os.Unsetenv("WATCHDOG_USEC")
	s := NewSystemd(slog.New(slog.DiscardHandler))
	if s.WatchdogInterval() != 0 {
		t.Fatal("watchdog on without WATCHDOG_USEC")
	}
	s.Ready("x") // no socket: no-op, no panic
	s.Alive()
	s.Stopping()
}

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
	go a.Launch(ctx, LaunchRequest{Token: "t", CorrelationID: "c1", BaseURL: "https://gw.example.com"})
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
