// Package gpioled drives the kiosk's status lights through GPIO output
// lines: a green and a red LED, and an optional blue one. It implements
// led.LEDs, led.Identifier and led.HealthReporter.
//
// Lines are opened through the Linux GPIO character device
// (/dev/gpiochipN, periph.io's gpioioctl driver) and found by line name
// (e.g. "GPIO17" on a Raspberry Pi, where the kernel names the header
// pins), so the kiosk's config names pins the way the board's pinout does.
// Each State maps to a Pattern; blinking patterns run on one goroutine timed
// by an injected clock, so tests drive them with a fake clock.
//
// Patterns (G green, R red, B blue; "on 100ms / off 1900ms" loops):
//
//	state       without blue                    with blue
//	idle        G on 100ms / off 1900ms         same
//	capturing   G on 500ms / off 500ms          B steady
//	processing  G, R alternating 250ms each     B on 250ms / off 250ms
//	success     G steady                        same
//	failure     R steady                        same
//	degraded    R on 100ms / off 1900ms         same
//	identify    all on 100ms / off 100ms for the requested time, then the state again
package gpioled

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3/gpioioctl"

	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/internal/clock"
)

// LED indexes the lights in a Step's mask.
const (
	Green = iota
	Red
	Blue
	numLEDs
)

// Mask is a set of lit LEDs: bit i is LED i (Green, Red, Blue).
type Mask uint8

// Lit is the Mask with the given LEDs on.
func Lit(leds ...int) Mask {
	var m Mask
	for _, i := range leds {
		m |= 1 << i
	}
	return m
}

// On reports whether LED i is lit in m.
func (m Mask) On(i int) bool { return m&(1<<i) != 0 }

// Step is one frame of a Pattern: the LEDs lit and for how long. A Step
// with For == 0 holds until the state changes.
type Step struct {
	Lit Mask
	For time.Duration
}

// Pattern is what the lights do for one State: its Steps in order,
// repeated from the first after the last (unless the last one holds).
type Pattern []Step

// IdentifyPeriod is half the period of the identify blink: all LEDs on for
// IdentifyPeriod, off for IdentifyPeriod.
const IdentifyPeriod = 100 * time.Millisecond

// PatternFor returns the Pattern shown for s; hasBlue says whether a blue
// LED is fitted. Unknown states show all LEDs off.
func PatternFor(s led.State, hasBlue bool) Pattern {
	G, R, B := Lit(Green), Lit(Red), Lit(Blue)
	heartbeat := func(m Mask) Pattern {
		return Pattern{{m, 100 * time.Millisecond}, {0, 1900 * time.Millisecond}}
	}
	switch s {
	case led.Idle:
		return heartbeat(G)
	case led.Capturing:
		if hasBlue {
			return Pattern{{B, 0}}
		}
		return Pattern{{G, 500 * time.Millisecond}, {0, 500 * time.Millisecond}}
	case led.Processing:
		if hasBlue {
			return Pattern{{B, 250 * time.Millisecond}, {0, 250 * time.Millisecond}}
		}
		return Pattern{{G, 250 * time.Millisecond}, {R, 250 * time.Millisecond}}
	case led.Success:
		return Pattern{{G, 0}}
	case led.Failure:
		return Pattern{{R, 0}}
	case led.Degraded:
		return heartbeat(R)
	}
	return Pattern{{0, 0}}
}

func identifyPattern(hasBlue bool) Pattern {
	all := Lit(Green, Red)
	if hasBlue {
		all |= Lit(Blue)
	}
	return Pattern{{all, IdentifyPeriod}, {0, IdentifyPeriod}}
}

// Pins are the output lines. Green and Red are required; Blue may be nil.
type Pins struct {
	Green, Red, Blue gpio.PinOut
}

// Options configure a Driver.
type Options struct {
	// ActiveLow inverts every line: a lit LED is driven Low (LEDs wired
	// from the supply to the pin).
	ActiveLow bool
	// Clock times the patterns; the wall clock if nil.
	Clock clock.Clock
	// Logger receives write failures (once per failure spell); slog.Default() if nil.
	Logger *slog.Logger
}

// Names are the GPIO line names of the LEDs, as the kernel names them
// (gpioinfo shows them). Blue may be empty.
type Names struct {
	Green, Red, Blue string
}

// ErrNoChip means no GPIO character device could be opened (none present,
// or permission denied).
var ErrNoChip = errors.New("no usable GPIO chip")

// ErrNoLine means a configured line name is not on any GPIO chip.
var ErrNoLine = errors.New("GPIO line not found")

var (
	initOnce sync.Once
	initErr  error
)

// hostInit scans the GPIO character devices once per process (periph's
// registry cannot be re-scanned: chips that appear later are not seen).
// Only the character-device driver is loaded, never memory-mapped ones.
func hostInit() error {
	initOnce.Do(func() {
		st, err := driverreg.Init()
		if err != nil {
			initErr = err
			return
		}
		for _, f := range append(st.Failed, st.Skipped...) {
			if f.D.String() == "ioctl-gpio" {
				initErr = fmt.Errorf("%w: %v", ErrNoChip, f.Err)
				return
			}
		}
		if len(gpioioctl.Chips) == 0 {
			initErr = ErrNoChip
		}
	})
	return initErr
}

// Open finds the lines named in n on the system's GPIO chips, claims them
// as outputs (all LEDs off) and returns a running Driver. Errors wrap
// ErrNoChip (no /dev/gpiochipN usable), ErrNoLine (a name not found) or
// the kernel's error when a line cannot be claimed (busy, permission).
func Open(n Names, o Options) (*Driver, error) {
	if n.Green == "" || n.Red == "" {
		return nil, errors.New("gpio leds: green and red line names are required")
	}
	if err := hostInit(); err != nil {
		return nil, fmt.Errorf("gpio leds: %w", err)
	}
	var p Pins
	for _, x := range []struct {
		name string
		dst  *gpio.PinOut
	}{{n.Green, &p.Green}, {n.Red, &p.Red}, {n.Blue, &p.Blue}} {
		if x.name == "" {
			continue
		}
		pin := gpioreg.ByName(x.name)
		if pin == nil {
			return nil, fmt.Errorf("gpio leds: %w: %q (gpioinfo lists line names)", ErrNoLine, x.name)
		}
		*x.dst = pin
	}
	d, err := New(p, o)
	if err != nil {
		return nil, fmt.Errorf("gpio leds: %w", err)
	}
	return d, nil
}

// Driver shows led States on GPIO lines. Make one with Open or New; Close
// it to stop the pattern goroutine and turn the LEDs off.
type Driver struct {
	pins      [numLEDs]gpio.PinOut
	activeLow bool
	hasBlue   bool
	clk       clock.Clock
	log       *slog.Logger

	mu       sync.Mutex
	want     led.State
	identify time.Duration // pending identify request, 0 if none
	lastErr  error
	wake     chan struct{} // 1 slot: "want or identify changed"
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// New returns a running Driver over p with every LED off. It drives each
// pin once to check it, and returns the first pin's error.
func New(p Pins, o Options) (*Driver, error) {
	if p.Green == nil || p.Red == nil {
		return nil, errors.New("green and red pins are required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d := &Driver{
		pins:      [numLEDs]gpio.PinOut{p.Green, p.Red, p.Blue},
		activeLow: o.ActiveLow,
		hasBlue:   p.Blue != nil,
		clk:       o.Clock,
		log:       o.Logger.With("component", "led", "driver", led.DriverGPIO),
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	for i, pin := range d.pins {
		if pin == nil {
			continue
		}
		if err := pin.Out(d.level(false)); err != nil {
			return nil, fmt.Errorf("drive %s (%s): %w", pin.Name(), ledName(i), err)
		}
	}
	go d.run()
	return d, nil
}

func ledName(i int) string {
	return [...]string{"green", "red", "blue"}[i]
}

// level is the line level for a lit (true) or dark LED.
func (d *Driver) level(lit bool) gpio.Level {
	return gpio.Level(lit != d.activeLow)
}

// Set shows s (its Pattern from the first Step). Repeating the current
// state changes nothing. It never blocks.
func (d *Driver) Set(s led.State) {
	d.mu.Lock()
	if s == d.want {
		d.mu.Unlock()
		return
	}
	d.want = s
	d.mu.Unlock()
	d.poke()
}

// Identify blinks all LEDs together (IdentifyPeriod on, IdentifyPeriod
// off) for dur, then shows the current state again. A new call restarts
// the blink; dur ≤ 0 cancels it. It never blocks.
func (d *Driver) Identify(dur time.Duration) {
	if dur <= 0 {
		dur = -1
	}
	d.mu.Lock()
	d.identify = dur
	d.mu.Unlock()
	d.poke()
}

func (d *Driver) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Health reports OK until a line write fails; Reason is the last failure.
// A later successful write makes it OK again.
func (d *Driver) Health() led.Health {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := led.Health{Configured: led.DriverGPIO, Driver: led.DriverGPIO, OK: d.lastErr == nil}
	if d.lastErr != nil {
		h.Reason = d.lastErr.Error()
	}
	return h
}

// Close stops the pattern goroutine and turns every LED off. It returns
// the error of that last write, if any, and is safe to call twice.
func (d *Driver) Close() error {
	d.once.Do(func() { close(d.stop) })
	<-d.done
	var first error
	for _, pin := range d.pins {
		if pin == nil {
			continue
		}
		if err := pin.Out(d.level(false)); err != nil && first == nil {
			first = fmt.Errorf("drive %s: %w", pin.Name(), err)
		}
	}
	return first
}

// run owns the pins: it shows the wanted pattern, or the identify pattern
// while one runs, advancing on the clock.
func (d *Driver) run() {
	defer close(d.done)
	var (
		shown     led.State
		pat       Pattern
		idx       int
		stepC     <-chan time.Time
		identC    <-chan time.Time
		inIdent   bool
		cur       Mask
		curValid  bool
		firstShow = true
	)
	show := func(p Pattern) {
		pat, idx = p, 0
		cur, curValid = d.apply(pat[0].Lit, cur, curValid)
		stepC = nil
		if pat[0].For > 0 {
			stepC = d.clk.After(pat[0].For)
		}
	}
	for {
		select {
		case <-d.stop:
			return
		case <-d.wake:
			d.mu.Lock()
			want, ident := d.want, d.identify
			d.identify = 0
			d.mu.Unlock()
			switch {
			case ident > 0:
				inIdent = true
				identC = d.clk.After(ident)
				shown = want
				show(identifyPattern(d.hasBlue))
			case ident < 0 && inIdent:
				inIdent, identC = false, nil
				shown = want
				show(PatternFor(want, d.hasBlue))
			case !inIdent && (want != shown || firstShow):
				shown = want
				show(PatternFor(want, d.hasBlue))
			default:
				shown = want // shown when identify ends
			}
			firstShow = false
		case <-identC:
			inIdent, identC = false, nil
			show(PatternFor(shown, d.hasBlue))
		case <-stepC:
			idx = (idx + 1) % len(pat)
			cur, curValid = d.apply(pat[idx].Lit, cur, curValid)
			stepC = nil
			if pat[idx].For > 0 {
				stepC = d.clk.After(pat[idx].For)
			}
		}
	}
}

// apply drives the lines whose LED changes from cur to m (every line when
// cur is not valid) and returns the new current mask.
func (d *Driver) apply(m, cur Mask, valid bool) (Mask, bool) {
	var err error
	for i, pin := range d.pins {
		if pin == nil || (valid && m.On(i) == cur.On(i)) {
			continue
		}
		if e := pin.Out(d.level(m.On(i))); e != nil && err == nil {
			err = fmt.Errorf("drive %s (%s): %w", pin.Name(), ledName(i), e)
		}
	}
	d.mu.Lock()
	was := d.lastErr
	d.lastErr = err
	d.mu.Unlock()
	switch {
	case err != nil && was == nil:
		d.log.Error("led write failed", "err", err)
	case err == nil && was != nil:
		d.log.Info("led writes recovered")
	}
	// After a failure the lines' levels are unknown: rewrite all next time.
	return m, err == nil
}
