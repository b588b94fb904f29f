// Package health reports the kiosk agent's condition: the health of its
// components for /healthz and the MQTT status (Registry), and its
// Prometheus metrics in a private registry (Metrics). It does no I/O of
// its own; the agent serves both.
package health

import (
	"slices"
	"sync"
)

// Registry collects the health of the agent's components for
// /healthz: the agent is "ok" when every component is ok and "degraded"
// otherwise, with the reasons of the failing ones. Components either push
// their state with Set (the camera when it disappears and comes back, the
// GPIO driver when it falls back to the log driver) or are asked at each
// report through a probe (the clock, the spool, MQTT). It is safe for
// concurrent use; the zero value is not: make one with NewRegistry.
type Registry struct {
	mu     sync.Mutex
	state  map[string]Component
	probes map[string]func() (ok bool, reason string)
}

// Component is one component's state.
type Component struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"` // short snake_case, e.g. "camera_absent"
}

// Report is the agent's health at one moment.
type Report struct {
	Status     string               `json:"status"`  // "ok" or "degraded"
	Reasons    []string             `json:"reasons"` // sorted, unique; empty when ok
	Components map[string]Component `json:"components"`
}

// Health statuses.
const (
	OK       = "ok"
	Degraded = "degraded"
)

// NewRegistry returns an empty registry (status ok).
func NewRegistry() *Registry {
	return &Registry{state: map[string]Component{}, probes: map[string]func() (bool, string){}}
}

// Set records component's state. reason names the problem when !ok (the
// component name is used when empty) and is ignored when ok. Names and
// reasons must come from a small fixed set: they become metric labels.
func (h *Registry) Set(component string, ok bool, reason string) {
	if ok {
		reason = ""
	} else if reason == "" {
		reason = component
	}
	h.mu.Lock()
	h.state[component] = Component{OK: ok, Reason: reason}
	h.mu.Unlock()
}

// Probe registers f to be asked for component's state at every report
// (replacing an earlier probe or Set of the same component). f must be
// fast and must not call the registry.
func (h *Registry) Probe(component string, f func() (ok bool, reason string)) {
	h.mu.Lock()
	h.probes[component] = f
	delete(h.state, component)
	h.mu.Unlock()
}

// Report returns the current health.
func (h *Registry) Report() Report {
	h.mu.Lock()
	comps := make(map[string]Component, len(h.state)+len(h.probes))
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
		comps[k] = Component{OK: ok, Reason: reason}
	}
	r := Report{Status: OK, Reasons: []string{}, Components: comps}
	for _, c := range comps {
		if !c.OK {
			r.Status = Degraded
			if !slices.Contains(r.Reasons, c.Reason) {
				r.Reasons = append(r.Reasons, c.Reason)
			}
		}
	}
	slices.Sort(r.Reasons)
	return r
}
