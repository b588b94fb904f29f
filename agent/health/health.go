package agent

import (
	"slices"
	"sync"
)

// HealthRegistry collects the health of the agent's components for
// /healthz: the agent is "ok" when every component is ok and "degraded"
// otherwise, with the reasons of the failing ones. Components either push
// their state with Set (the camera when it disappears and comes back, the
// GPIO driver when it falls back to the log driver) or are asked at each
// report through a probe (the clock, the spool, MQTT). It is safe for
// concurrent use; the zero value is not: make one with NewHealthRegistry.
type HealthRegistry struct {
	mu     sync.Mutex
	state  map[string]ComponentHealth
	probes map[string]func() (ok bool, reason string)
}

// ComponentHealth is one component's state.
type ComponentHealth struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"` // short snake_case, e.g. "camera_absent"
}

// HealthReport is the agent's health at one moment.
type HealthReport struct {
	Status     string                     `json:"status"`  // "ok" or "degraded"
	Reasons    []string                   `json:"reasons"` // sorted, unique; empty when ok
	Components map[string]ComponentHealth `json:"components"`
}

// Health statuses.
const (
	HealthOK       = "ok"
	HealthDegraded = "degraded"
)

// NewHealthRegistry returns an empty registry (status ok).
func NewHealthRegistry() *HealthRegistry {
	return &HealthRegistry{state: map[string]ComponentHealth{}, probes: map[string]func() (bool, string){}}
}

// Set records component's state. reason names the problem when !ok (the
// component name is used when empty) and is ignored when ok. Names and
// reasons must come from a small fixed set: they become metric labels.
func (h *HealthRegistry) Set(component string, ok bool, reason string) {
	if ok {
		reason = ""
	} else if reason == "" {
		reason = component
	}
	h.mu.Lock()
	h.state[component] = ComponentHealth{OK: ok, Reason: reason}
	h.mu.Unlock()
}

// Probe registers f to be asked for component's state at every report
// (replacing an earlier probe or Set of the same component). f must be
// fast and must not call the registry.
func (h *HealthRegistry) Probe(component string, f func() (ok bool, reason string)) {
	h.mu.Lock()
	h.probes[component] = f
	delete(h.state, component)
	h.mu.Unlock()
}

// Report returns the current health.
func (h *HealthRegistry) Report() HealthReport {
	h.mu.Lock()
	comps := make(map[string]ComponentHealth, len(h.state)+len(h.probes))
	for k, v := range h.state {
		comps[k] = v
	}
	probes := make(map[string]func() (bool, string), len(h.probes))
	for k, f := range h.probes {
		probes[k] = f
	}
	h.mu.Unlock()
	for k, f := range probes {
		ok, reason := f()
		if ok {
			reason = ""
		} else if reason == "" {
			reason = k
		}
		comps[k] = ComponentHealth{OK: ok, Reason: reason}
	}
	r := HealthReport{Status: HealthOK, Reasons: []string{}, Components: comps}
	for _, c := range comps {
		if !c.OK {
			r.Status = HealthDegraded
			if !slices.Contains(r.Reasons, c.Reason) {
				r.Reasons = append(r.Reasons, c.Reason)
			}
		}
	}
	slices.Sort(r.Reasons)
	return r
}

// addDeviceHealth merges the registry's report into the /healthz body:
// degraded when any component is, with its reasons added.
func (a *Agent) addDeviceHealth(h *Health) {
	r := a.health.Report()
	if r.Status != HealthDegraded {
		return
	}
	h.Status = HealthDegraded
	for _, reason := range r.Reasons {
		if !slices.Contains(h.Reasons, reason) {
			h.Reasons = append(h.Reasons, reason)
		}
	}
}
