package devicetest

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/agent/led/gpioled"
	"github.com/faceverify/faceverify/internal/clock"
)

// simChip is the gpio-sim chip made by the VM's init through configfs.
type simChip struct {
	sysfs string         // /sys/devices/platform/<dev_name>/<chip_name>
	line  map[string]int // line name → offset
}

func openSim(t *testing.T) simChip {
	t.Helper()
	dir := os.Getenv("FACEVERIFY_GPIO_SIM")
	if dir == "" {
		t.Fatal("FACEVERIFY_GPIO_SIM is unset: the VM's init did not configure gpio-sim")
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("gpio-sim configfs: %v", err)
		}
		return strings.TrimSpace(string(b))
	}
	if read(filepath.Join(dir, "live")) != "1" {
		t.Fatalf("gpio-sim device %s is not live", dir)
	}
	dev := read(filepath.Join(dir, "dev_name"))
	chip := read(filepath.Join(dir, "bank0", "chip_name"))
	c := simChip{sysfs: filepath.Join("/sys/devices/platform", dev, chip), line: map[string]int{}}
	lines, _ := filepath.Glob(filepath.Join(dir, "bank0", "line*"))
	for _, l := range lines {
		var off int
		if _, err := fmt.Sscanf(filepath.Base(l), "line%d", &off); err != nil {
			continue
		}
		if name := read(filepath.Join(l, "name")); name != "" {
			c.line[name] = off
		}
	}
	t.Logf("gpio-sim %s: /dev/%s, lines %v", dev, chip, c.line)
	return c
}

// value reads what the consumer drives on the named line, from gpio-sim's
// sysfs attribute (reading the line through the GPIO API would turn the
// output into an input).
func (c simChip) value(t *testing.T, name string) byte {
	t.Helper()
	off, ok := c.line[name]
	if !ok {
		t.Fatalf("no simulated line named %q", name)
	}
	b, err := os.ReadFile(filepath.Join(c.sysfs, fmt.Sprintf("sim_gpio%d", off), "value"))
	if err != nil {
		t.Fatalf("read line %s: %v", name, err)
	}
	return strings.TrimSpace(string(b))[0]
}

// ledNames are the line names from the agent config's [led] table, plus
// the blue line the init script adds.
func ledNames(t *testing.T) gpioled.Names {
	t.Helper()
	var cfg struct {
		LED struct {
			Green string `toml:"green"`
			Red   string `toml:"red"`
		} `toml:"led"`
	}
	path := os.Getenv("FACEVERIFY_CONFIG")
	if _, err := toml.DecodeFile(path, &cfg); err != nil {
		t.Fatalf("agent config %q: %v", path, err)
	}
	n := gpioled.Names{Green: cfg.LED.Green, Red: cfg.LED.Red, Blue: os.Getenv("FACEVERIFY_LED_BLUE")}
	if n.Green == "" || n.Red == "" || n.Blue == "" {
		t.Fatalf("line names incomplete: %+v", n)
	}
	return n
}

// lines reads green, red and blue as "GRB" of '0'/'1'.
func (c simChip) lines(t *testing.T, n gpioled.Names) string {
	return string([]byte{c.value(t, n.Green), c.value(t, n.Red), c.value(t, n.Blue)})
}

func (c simChip) expect(t *testing.T, n gpioled.Names, want string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := c.lines(t, n)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("simulated lines GRB = %s, want %s", got, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestGPIOLEDs drives every LED state through the real GPIO driver
// (periph gpioioctl on /dev/gpiochipN) and reads each line back from the
// simulated chip, stepping blink patterns with a fake clock.
func TestGPIOLEDs(t *testing.T) {
	requireVM(t)
	sim := openSim(t)
	names := ledNames(t)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// open claims the lines with a fresh fake clock (no timers left over
	// from an earlier pattern); the lines are claimed again each time.
	open := func(t *testing.T, activeLow bool) (*gpioled.Driver, *clock.Fake) {
		t.Helper()
		clk := clock.NewFake(time.Unix(0, 0))
		d, err := gpioled.Open(names, gpioled.Options{ActiveLow: activeLow, Clock: clk, Logger: logger})
		if err != nil {
			t.Fatalf("open GPIO LEDs %+v: %v", names, err)
		}
		t.Cleanup(func() { d.Close() })
		return d, clk
	}

	ms := time.Millisecond
	type step struct {
		lines string
		dur   time.Duration // then advance the clock this much (0: last)
	}
	for _, tc := range []struct {
		state led.State
		steps []step
	}{
		{led.Idle, []step{{"100", 100 * ms}, {"000", 1900 * ms}, {"100", 0}}},
		{led.Capturing, []step{{"001", 0}}},
		{led.Processing, []step{{"001", 250 * ms}, {"000", 250 * ms}, {"001", 0}}},
		{led.Success, []step{{"100", 0}}},
		{led.Failure, []step{{"010", 0}}},
		{led.Degraded, []step{{"010", 100 * ms}, {"000", 1900 * ms}, {"010", 0}}},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			d, clk := open(t, false)
			sim.expect(t, names, "000")
			d.Set(tc.state)
			for _, s := range tc.steps {
				sim.expect(t, names, s.lines)
				if s.dur > 0 {
					if !clk.BlockUntil(1, 3*time.Second) {
						t.Fatal("pattern set no timer")
					}
					clk.Advance(s.dur)
				}
			}
			if err := d.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			sim.expect(t, names, "000")
			if h := d.Health(); !h.OK {
				t.Fatalf("health after a clean run: %+v", h)
			}
		})
	}
	t.Run("identify", func(t *testing.T) {
		d, clk := open(t, false)
		d.Set(led.Failure)
		sim.expect(t, names, "010")
		d.Identify(time.Second)
		sim.expect(t, names, "111")
		if !clk.BlockUntil(2, 3*time.Second) {
			t.Fatal("identify set no timers")
		}
		clk.Advance(gpioled.IdentifyPeriod)
		sim.expect(t, names, "000")
		d.Identify(0)
		sim.expect(t, names, "010")
	})

	t.Run("active_low", func(t *testing.T) {
		d, _ := open(t, true)
		sim.expect(t, names, "111")
		d.Set(led.Success)
		sim.expect(t, names, "011")
		d.Set(led.Failure)
		sim.expect(t, names, "101")
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		sim.expect(t, names, "111")
	})

	t.Run("missing_line", func(t *testing.T) {
		_, err := gpioled.Open(gpioled.Names{Green: names.Green, Red: "NO_SUCH_LINE"}, gpioled.Options{Logger: logger})
		if !errors.Is(err, gpioled.ErrNoLine) {
			t.Fatalf("open with a missing line: err = %v, want ErrNoLine", err)
		}
		t.Logf("missing line reported as: %v", err)
	})
}
