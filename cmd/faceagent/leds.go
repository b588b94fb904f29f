package main

import (
	"log/slog"

	"github.com/faceverify/faceverify/agent/config"
	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/agent/led/gpioled"
)

// newLEDs builds the status-light driver named by led.driver. A GPIO
// driver that cannot open (no chip, permission, missing line) is replaced
// by the log driver, whose Health carries the reason; the agent runs on.
// The returned func turns the lights off and releases the lines.
func newLEDs(c config.LEDConfig, logger *slog.Logger) (led.LEDs, func()) {
	if c.Driver != led.DriverGPIO {
		l, err := led.New(c.Driver, logger)
		if err != nil { // Validate accepted the name, so this is "log"
			l = led.NewFallback(c.Driver, err, logger)
		}
		return l, func() {}
	}
	d, err := gpioled.Open(gpioled.Names{Green: c.Green, Red: c.Red, Blue: c.Blue},
		gpioled.Options{ActiveLow: c.ActiveLow, Logger: logger})
	if err != nil {
		return led.NewFallback(led.DriverGPIO, err, logger), func() {}
	}
	logger.Info("gpio leds ready", "component", "led", "green", c.Green, "red", c.Red, "blue", c.Blue, "active_low", c.ActiveLow)
	return d, func() {
		if err := d.Close(); err != nil {
			logger.Warn("gpio leds close", "component", "led", "err", err)
		}
	}
}
