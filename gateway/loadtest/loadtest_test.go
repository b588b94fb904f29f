package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/loadtest"
)

// TestTinyRun drives a gateway with the fake analyzer through a few
// verifications and checks the report's structure (not its speed).
func TestTinyRun(t *testing.T) {
	an := gatewaytest.NewAnalyzer()
	an.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	an.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	cfg := gateway.DefaultConfig()
	cfg.Processing.Workers = 1
	rep, err := loadtest.Run(context.Background(), loadtest.Options{
		Analyzer: an, Selfie: gatewaytest.PNG(gatewaytest.Red), Reference: gatewaytest.PNG(gatewaytest.Green),
		Config: &cfg, Dir: t.TempDir(), Clients: 2, Verifications: 4, LatencyVerifications: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verifications != 4 || rep.Decisions["VERIFIED"] != 4 || len(rep.Decisions) != 1 {
		t.Errorf("closed loop: %d verifications, decisions %v; want 4 VERIFIED", rep.Verifications, rep.Decisions)
	}
	if rep.PerSecond <= 0 || rep.Seconds <= 0 || rep.CoreMS <= 0 || rep.PeakRSSMiB <= 0 {
		t.Errorf("rate, CPU or RSS missing: %+v", rep)
	}
	// Each flow analyses its selfie and its reference once.
	if rep.AnalyzeCalls != 2 {
		t.Errorf("%.2f Analyze calls per verification, want 2", rep.AnalyzeCalls)
	}
	if rep.LatencyN != 3 || rep.P50MS <= 0 || rep.P99MS < rep.P50MS || rep.LatencyRate <= 0 {
		t.Errorf("latency phase: %+v", rep)
	}
	var out bytes.Buffer
	rep.Format(&out)
	for _, want := range []string{"verifications/s: ", "latency at 50% (", "p50 ", "p99 ", "peak RSS: ", "core-ms per verification", "model calls ", "ratio ", "ms wall", "decisions: VERIFIED 4"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	b, _ := json.Marshal(rep)
	for _, key := range []string{`"verifications_per_second"`, `"p50_ms"`, `"p99_ms"`, `"peak_rss_mib"`, `"core_ms_per_verification"`, `"model_ms_per_verification"`, `"model_core_ms_per_verification"`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
}

// TestLongPollRun: with StatusWait each status call is a long poll that
// the gateway answers when the decision is recorded, so the run never
// falls back to Poll (an hour here: it would not finish) and needs few
// status calls.
func TestLongPollRun(t *testing.T) {
	an := gatewaytest.NewAnalyzer()
	an.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	an.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	cfg := gateway.DefaultConfig()
	cfg.Processing.Workers = 1
	rep, err := loadtest.Run(context.Background(), loadtest.Options{
		Analyzer: an, Selfie: gatewaytest.PNG(gatewaytest.Red), Reference: gatewaytest.PNG(gatewaytest.Green),
		Config: &cfg, Dir: t.TempDir(), Clients: 2, Verifications: 4, LatencyOff: true,
		Poll: time.Hour, StatusWait: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verifications != 4 || rep.Decisions["VERIFIED"] != 4 {
		t.Errorf("decisions %v, want 4 VERIFIED", rep.Decisions)
	}
	if rep.Polls < 1 || rep.Polls > 2 {
		t.Errorf("%.2f status calls per verification, want 1–2 long polls", rep.Polls)
	}
}
