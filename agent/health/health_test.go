package health

import (
	"slices"
	"testing"
)

func TestRegistry(t *testing.T) {
	cases := []struct {
		name        string
		set         func(h *Registry)
		wantStatus  string
		wantReasons []string
	}{
		{"empty is ok", func(h *Registry) {}, OK, []string{}},
		{"all ok", func(h *Registry) {
			h.Set("camera", true, "ignored")
			h.Probe("clock", func() (bool, string) { return true, "clock_unsynced" })
		}, OK, []string{}},
		{"one pushed failure", func(h *Registry) { h.Set("camera", false, "camera_absent"); h.Set("gpio", true, "") }, Degraded, []string{"camera_absent"}},
		{"reason defaults to the component", func(h *Registry) { h.Set("gpio", false, "") }, Degraded, []string{"gpio"}},
		{"probe and push, sorted and unique", func(h *Registry) {
			h.Set("camera", false, "camera")
			h.Set("camera2", false, "camera")
			h.Probe("clock", func() (bool, string) { return false, "clock_unsynced" })
		}, Degraded, []string{"camera", "clock_unsynced"}},
		{"recovery clears the reason", func(h *Registry) { h.Set("camera", false, "camera_absent"); h.Set("camera", true, "") }, OK, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := NewRegistry()
			tc.set(h)
			r := h.Report()
			if r.Status != tc.wantStatus || !slices.Equal(r.Reasons, tc.wantReasons) {
				t.Errorf("report %+v, want %s %v", r, tc.wantStatus, tc.wantReasons)
			}
		})
	}
}
