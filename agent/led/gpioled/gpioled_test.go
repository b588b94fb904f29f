package gpioled

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/internal/clock"
)

// wait bounds, in real time, how long the pattern goroutine may take to
// react; generous, since a loaded CI machine under -race can stall it for
// seconds. Tests never wait it out when they pass.
const wait = 20 * time.Second

type rig struct {
	t    *testing.T
	clk  *clock.Fake
	g, r *gpiotest.Pin
	b    *gpiotest.Pin // nil without blue
	d    *Driver
}

func newRig(t *testing.T, blue, activeLow bool) *rig {
	t.Helper()
	x := &rig{t: t, clk: clock.NewFake(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))}
	x.g = &gpiotest.Pin{N: "GPIO17", Num: 17}
	x.r = &gpiotest.Pin{N: "GPIO27", Num: 27}
	p := Pins{Green: x.g, Red: x.r}
	if blue {
		x.b = &gpiotest.Pin{N: "GPIO22", Num: 22}
		p.Blue = x.b
	}
	d, err := New(p, Options{ActiveLow: activeLow, Clock: x.clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	x.d = d
	t.Cleanup(func() { d.Close() })
	return x
}

func level(p *gpiotest.Pin) gpio.Level {
	if p == nil {
		return gpio.Low
	}
	p.Lock()
	defer p.Unlock()
	return p.L
}

// levels is "GRB" with 1 for High, 0 for Low ("GR" without blue).
func (x *rig) levels() string {
	var b strings.Builder
	for _, p := range []*gpiotest.Pin{x.g, x.r, x.b} {
		if p == nil {
			continue
		}
		if level(p) {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	return b.String()
}

// expect waits until the lines read want, and until the pattern goroutine
// has n timers pending on the fake clock (so the next Advance is seen).
func (x *rig) expect(want string, n int) {
	x.t.Helper()
	deadline := time.Now().Add(wait)
	for x.levels() != want {
		if time.Now().After(deadline) {
			x.t.Fatalf("lines = %s, want %s", x.levels(), want)
		}
		time.Sleep(time.Millisecond)
	}
	if n > 0 && !x.clk.BlockUntil(n, wait) {
		x.t.Fatalf("pattern goroutine has %d timers pending, want %d", x.clk.Waiters(), n)
	}
}

type frame struct {
	lines string        // levels after the step starts
	dur   time.Duration // time to the next step (0: steady)
}

func TestPatternsLevelSequences(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name      string
		state     led.State
		blue      bool
		activeLow bool
		frames    []frame // two full periods for blinking patterns
	}{
		{"idle heartbeat", led.Idle, false, false, []frame{{"10", 100 * ms}, {"00", 1900 * ms}, {"10", 100 * ms}, {"00", 1900 * ms}, {"10", 100 * ms}}},
		{"capturing 1 Hz green", led.Capturing, false, false, []frame{{"10", 500 * ms}, {"00", 500 * ms}, {"10", 500 * ms}, {"00", 500 * ms}, {"10", 0}}},
		{"capturing blue steady", led.Capturing, true, false, []frame{{"001", 0}}},
		{"processing wig-wag", led.Processing, false, false, []frame{{"10", 250 * ms}, {"01", 250 * ms}, {"10", 250 * ms}, {"01", 250 * ms}, {"10", 0}}},
		{"processing blue 2 Hz", led.Processing, true, false, []frame{{"001", 250 * ms}, {"000", 250 * ms}, {"001", 250 * ms}, {"000", 250 * ms}, {"001", 0}}},
		{"success green steady", led.Success, false, false, []frame{{"10", 0}}},
		{"success with blue", led.Success, true, false, []frame{{"100", 0}}},
		{"failure red steady", led.Failure, false, false, []frame{{"01", 0}}},
		{"degraded red heartbeat", led.Degraded, false, false, []frame{{"01", 100 * ms}, {"00", 1900 * ms}, {"01", 100 * ms}, {"00", 0}}},
		{"active-low success", led.Success, false, true, []frame{{"01", 0}}},
		{"active-low failure with blue", led.Failure, true, true, []frame{{"101", 0}}},
		{"active-low capturing", led.Capturing, false, true, []frame{{"01", 500 * ms}, {"11", 500 * ms}, {"01", 0}}},
		{"active-low processing", led.Processing, false, true, []frame{{"01", 250 * ms}, {"10", 250 * ms}, {"01", 0}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := newRig(t, tc.blue, tc.activeLow)
			off := "00"
			if tc.blue {
				off = "000"
			}
			if tc.activeLow {
				off = strings.ReplaceAll(off, "0", "1")
			}
			x.expect(off, 0) // New turns every LED off
			x.d.Set(tc.state)
			for i, f := range tc.frames {
				n := 0
				if i < len(tc.frames)-1 && f.dur > 0 {
					n = 1
				}
				x.expect(f.lines, n)
				if f.dur > 0 && i < len(tc.frames)-1 {
					// Just before the step ends nothing changes; at its end the next step shows.
					x.clk.Advance(f.dur - time.Millisecond)
					time.Sleep(5 * time.Millisecond)
					if got := x.levels(); got != f.lines {
						t.Fatalf("step %d changed to %s before its %v ended", i, got, f.dur)
					}
					x.clk.Advance(time.Millisecond)
				}
			}
			if tc.frames[len(tc.frames)-1].dur == 0 && len(tc.frames) == 1 {
				// A steady pattern sets no timer and holds through time.
				if n := x.clk.Waiters(); n != 0 {
					t.Fatalf("steady pattern left %d timers", n)
				}
				x.clk.Advance(time.Hour)
				time.Sleep(10 * time.Millisecond)
				x.expect(tc.frames[0].lines, 0)
			}
		})
	}
}

func TestBlinkStepEarlyDoesNotAdvance(t *testing.T) {
	x := newRig(t, false, false)
	x.d.Set(led.Capturing)
	x.expect("10", 1)
	x.clk.Advance(499 * time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	if got := x.levels(); got != "10" {
		t.Fatalf("after 499ms lines = %s, want 10 (the step lasts 500ms)", got)
	}
	x.clk.Advance(time.Millisecond)
	x.expect("00", 1)
}

func TestRepeatedSetKeepsPhase(t *testing.T) {
	x := newRig(t, false, false)
	x.d.Set(led.Processing)
	x.expect("10", 1)
	x.clk.Advance(250 * time.Millisecond)
	x.expect("01", 1)
	x.d.Set(led.Processing) // the session repeats states; the blink must not restart
	time.Sleep(20 * time.Millisecond)
	x.expect("01", 1)
	x.clk.Advance(250 * time.Millisecond)
	x.expect("10", 1)
}

func TestIdentifyThenResume(t *testing.T) {
	ms := time.Millisecond
	x := newRig(t, true, false)
	x.d.Set(led.Success)
	x.expect("100", 0)
	x.d.Identify(950 * ms)
	// identify timer + step timer
	x.expect("111", 2)
	for i := 0; i < 9; i++ { // 100ms steps up to 900ms
		x.clk.Advance(100 * ms)
		want := "000"
		if i%2 == 1 {
			want = "111"
		}
		x.expect(want, 2)
	}
	// A state change during identify is remembered, not shown.
	x.d.Set(led.Failure)
	time.Sleep(20 * time.Millisecond)
	if got := x.levels(); got != "000" {
		t.Fatalf("state change during identify showed %s, want the identify blink (000 at 900ms)", got)
	}
	x.clk.Advance(50 * ms) // 950ms: identify ends, the new state shows
	x.expect("010", 0)
}

func TestIdentifyCancel(t *testing.T) {
	x := newRig(t, false, false)
	x.d.Set(led.Failure)
	x.expect("01", 0)
	x.d.Identify(time.Minute)
	x.expect("11", 2)
	x.d.Identify(0)
	x.expect("01", 0)
}

func TestCloseTurnsOffAndStops(t *testing.T) {
	for _, activeLow := range []bool{false, true} {
		t.Run(fmt.Sprintf("active_low=%v", activeLow), func(t *testing.T) {
			x := newRig(t, true, activeLow)
			x.d.Set(led.Capturing)
			lit := "001"
			off := "000"
			if activeLow {
				lit, off = "110", "111"
			}
			x.expect(lit, 0)
			if err := x.d.Close(); err != nil {
				t.Fatal(err)
			}
			if got := x.levels(); got != off {
				t.Fatalf("after Close lines = %s, want %s", got, off)
			}
			if err := x.d.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			x.d.Set(led.Failure) // must not block or drive a line
			if got := x.levels(); got != off {
				t.Fatalf("Set after Close drove the lines: %s", got)
			}
		})
	}
}

// flakyPin fails its writes while broken is set.
type flakyPin struct {
	gpiotest.Pin
	mu     sync.Mutex
	broken bool
}

var errGone = errors.New("line gone")

func (p *flakyPin) Out(l gpio.Level) error {
	p.mu.Lock()
	broken := p.broken
	p.mu.Unlock()
	if broken {
		return errGone
	}
	return p.Pin.Out(l)
}

func (p *flakyPin) set(b bool) {
	p.mu.Lock()
	p.broken = b
	p.mu.Unlock()
}

func TestWriteFailureHealthAndLogOnce(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	var buf safeBuffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	red := &flakyPin{Pin: gpiotest.Pin{N: "GPIO27"}}
	d, err := New(Pins{Green: &gpiotest.Pin{N: "GPIO17"}, Red: red}, Options{Clock: clk, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if h := d.Health(); !h.OK || h.Driver != led.DriverGPIO {
		t.Fatalf("health before failure = %+v", h)
	}
	red.set(true)
	d.Set(led.Processing) // G/R wig-wag: the red step fails every 500ms
	if !clk.BlockUntil(1, wait) {
		t.Fatal("pattern did not start")
	}
	for i := 0; i < 6; i++ {
		clk.Advance(250 * time.Millisecond)
		if !clk.BlockUntil(1, wait) {
			t.Fatal("pattern stalled after a write failure")
		}
	}
	h := d.Health()
	if h.OK || !strings.Contains(h.Reason, errGone.Error()) || !strings.Contains(h.Reason, "red") {
		t.Fatalf("health after failures = %+v, want not OK naming the red line and the cause", h)
	}
	if n := strings.Count(buf.String(), "led write failed"); n != 1 {
		t.Fatalf("write failure logged %d times, want once:\n%s", n, buf.String())
	}
	red.set(false)
	for i := 0; i < 2; i++ {
		clk.Advance(250 * time.Millisecond)
		if !clk.BlockUntil(1, wait) {
			t.Fatal("pattern stalled")
		}
	}
	if h := d.Health(); !h.OK {
		t.Fatalf("health after recovery = %+v, want OK", h)
	}
	if !strings.Contains(buf.String(), "led writes recovered") {
		t.Fatalf("recovery not logged:\n%s", buf.String())
	}
}

func TestNewRejectsBrokenPin(t *testing.T) {
	red := &flakyPin{Pin: gpiotest.Pin{N: "GPIO27"}, broken: true}
	_, err := New(Pins{Green: &gpiotest.Pin{N: "GPIO17"}, Red: red}, Options{Clock: clock.NewFake(time.Unix(0, 0))})
	if !errors.Is(err, errGone) || !strings.Contains(err.Error(), "GPIO27") {
		t.Fatalf("New with a failing pin: err = %v, want errGone naming GPIO27", err)
	}
	if _, err := New(Pins{Green: &gpiotest.Pin{N: "GPIO17"}}, Options{}); err == nil {
		t.Fatal("New without a red pin succeeded")
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(Names{Green: "GPIO17"}, Options{}); err == nil || !strings.Contains(err.Error(), "required") {
		t.Fatalf("Open without red: err = %v", err)
	}
	_, err := Open(Names{Green: "FACEVERIFY_NO_SUCH_LINE_G", Red: "FACEVERIFY_NO_SUCH_LINE_R"}, Options{})
	if err == nil {
		t.Fatal("Open of lines that do not exist succeeded")
	}
	if !errors.Is(err, ErrNoChip) && !errors.Is(err, ErrNoLine) {
		t.Fatalf("Open error %v wraps neither ErrNoChip nor ErrNoLine", err)
	}
	t.Logf("Open on this machine: %v", err)
}

func TestFallbackHealth(t *testing.T) {
	var buf safeBuffer
	f := led.NewFallback(led.DriverGPIO, fmt.Errorf("gpio leds: %w", ErrNoChip), slog.New(slog.NewTextHandler(&buf, nil)))
	h := f.Health()
	if h.OK || h.Driver != led.DriverLog || h.Configured != led.DriverGPIO || !strings.Contains(h.Reason, ErrNoChip.Error()) {
		t.Fatalf("fallback health = %+v", h)
	}
	f.Set(led.Idle)
	if n := strings.Count(buf.String(), "led driver unavailable"); n != 1 {
		t.Fatalf("fallback reason logged %d times, want once:\n%s", n, buf.String())
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
