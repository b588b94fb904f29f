package agent

import "github.com/faceverify/faceverify/agent/led"

// ReasonLEDUnavailable is the /healthz reason when the configured
// status-light driver could not start or its last write failed (the
// agent runs on with the log driver; Health.LEDs says why).
const ReasonLEDUnavailable = "LED_UNAVAILABLE"

// LEDHealth returns the status-light driver's health, when the driver
// reports one.
func (a *Agent) LEDHealth() (led.Health, bool) {
	if r, ok := a.d.LEDs.(led.HealthReporter); ok {
		return r.Health(), true
	}
	return led.Health{}, false
}

// addLEDHealth puts the LED driver's health into h; a failed driver makes
// the status degraded with ReasonLEDUnavailable.
func (a *Agent) addLEDHealth(h *Health) {
	lh, ok := a.LEDHealth()
	if !ok {
		return
	}
	h.LEDs = &lh
	if !lh.OK {
		h.Status = "degraded"
		h.Reasons = append(h.Reasons, ReasonLEDUnavailable)
	}
}
