package agent

import (
	"slices"

	"github.com/faceverify/faceverify/agent/health"
)

// addDeviceHealth merges the registry's report into the /healthz body:
// degraded when any component is, with its reasons added.
func (a *Agent) addDeviceHealth(h *Health) {
	r := a.health.Report()
	if r.Status != health.Degraded {
		return
	}
	h.Status = health.Degraded
	for _, reason := range r.Reasons {
		if !slices.Contains(h.Reasons, reason) {
			h.Reasons = append(h.Reasons, reason)
		}
	}
}
