package config

import (
	"fmt"

	"github.com/faceverify/faceverify/agent/led"
)

// validate checks the GPIO lines of the [led] table for led.driver =
// "gpio"; errors name the dotted field.
func (c LEDConfig) validate() error {
	if c.Driver != led.DriverGPIO {
		return nil // led.driver is checked by its oneof tag
	}
	seen := map[string]string{}
	for _, p := range []struct{ field, name string }{{"led.green", c.Green}, {"led.red", c.Red}, {"led.blue", c.Blue}} {
		if p.name == "" {
			if p.field != "led.blue" {
				return fmt.Errorf("%s: must name a GPIO line when led.driver = %q", p.field, led.DriverGPIO)
			}
			continue
		}
		if len(p.name) > 31 {
			return fmt.Errorf("%s: a GPIO line name has at most 31 bytes, got %q", p.field, p.name)
		}
		if other, dup := seen[p.name]; dup {
			return fmt.Errorf("%s: line %q is already used by %s", p.field, p.name, other)
		}
		seen[p.name] = p.field
	}
	return nil
}
