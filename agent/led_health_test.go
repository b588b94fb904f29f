package agent

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/uplink/gateway"
)

func TestHealthShowsLEDDriver(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []struct {
		name       string
		leds       led.LEDs
		wantStatus string
		wantLEDs   *led.Health
	}{
		{"log driver", led.NewLog(quiet), "ok", &led.Health{Configured: "log", Driver: "log", OK: true}},
		{"gpio fell back", led.NewFallback("gpio", errors.New("gpio leds: no usable GPIO chip"), quiet), "degraded",
			&led.Health{Configured: "gpio", Driver: "log", OK: false, Reason: "gpio leds: no usable GPIO chip"}},
		{"driver without health", &led.Recorder{}, "ok", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testCfg()
			a, err := New(cfg, Deps{
				Source: source(green), Analyzer: &agenttest.Analyzer{}, Gateway: gateway.New(gateway.Options{}),
				LEDs: tc.leds, Logger: quiet,
			})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "http://127.0.0.1/healthz", nil)
			a.Handler().ServeHTTP(rec, req)
			var h Health
			if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
				t.Fatalf("healthz body %q: %v", rec.Body.String(), err)
			}
			if h.Status != tc.wantStatus {
				t.Fatalf("status = %q, want %q (body %s)", h.Status, tc.wantStatus, rec.Body.String())
			}
			if got := slices.Contains(h.Reasons, ReasonLEDUnavailable); got != (tc.wantStatus == "degraded") {
				t.Fatalf("reasons = %q", h.Reasons)
			}
			switch {
			case tc.wantLEDs == nil && h.LEDs != nil:
				t.Fatalf("leds = %+v, want absent", *h.LEDs)
			case tc.wantLEDs != nil && (h.LEDs == nil || *h.LEDs != *tc.wantLEDs):
				t.Fatalf("leds = %+v, want %+v", h.LEDs, *tc.wantLEDs)
			}
		})
	}
}
