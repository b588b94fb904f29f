package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/agent/config"
	"github.com/faceverify/faceverify/agent/health"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/clock"
	"github.com/faceverify/faceverify/uplink/gateway"
	"github.com/faceverify/faceverify/uplink/spool"
	"github.com/faceverify/faceverify/uplink/uplinktest"
)

// timedAnalyzer reports fixed stage timings, as the ONNX engine does.
type timedAnalyzer struct{ *agenttest.Analyzer }

func (a timedAnalyzer) Analyze(ctx context.Context, img image.Image, o inference.Options) (inference.Analysis, error) {
	an, err := a.Analyzer.Analyze(ctx, img, o)
	an.Timings = inference.Timings{Detect: 3 * time.Millisecond, Liveness: 2 * time.Millisecond, Total: 6 * time.Millisecond}
	return an, err
}

// startDeps runs an agent built from cfg and d until the test ends.
func startDeps(t *testing.T, cfg config.Config, d Deps) *harness {
	t.Helper()
	h := &harness{t: t, runErr: make(chan error, 1)}
	if d.Publisher == nil {
		h.pub = uplinktest.NewPublisher(cfg.Device.ID)
		d.Publisher = h.pub
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a, err := New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	h.a = a
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.runErr <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.runErr:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop within 10s")
		}
	})
	select {
	case <-a.Ready():
	case <-time.After(time.Minute):
		t.Fatal("agent not ready")
	}
	return h
}

// scrape reads url and returns the samples by "name{labels}".
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetricsAfterSession(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	cfg := testCfg()
	cfg.Metrics.Listen = "127.0.0.1:0"
	an := &agenttest.Analyzer{Default: agenttest.OneFace(faceBox, true)}
	h := startDeps(t, cfg, Deps{Source: source(green), Analyzer: timedAnalyzer{an}, Gateway: gateway.New(gateway.Options{})})
	if code, _ := h.post("/v1/verify", launchBody(gw.URL())); code != 202 {
		t.Fatalf("launch: %d", code)
	}
	if v := h.waitFinal(); v.Status != api.StatusVerified {
		t.Fatalf("session %+v", v)
	}
	m := scrape(t, "http://"+h.a.MetricsAddr()+"/metrics")
	analyzed := m["faceverify_agent_frames_analyzed_total"]
	for name, want := range map[string]float64{
		`faceverify_agent_sessions_total{reason="",status="VERIFIED"}`:               1,
		`faceverify_agent_uploads_total{result="accepted"}`:                          1,
		`faceverify_agent_uploads_total{result="queued"}`:                            0,
		`faceverify_agent_upload_retries_total`:                                      0,
		`faceverify_agent_analyze_duration_seconds_count{stage="total"}`:             analyzed,
		`faceverify_agent_analyze_duration_seconds_count{stage="detect"}`:            analyzed,
		`faceverify_agent_analyze_duration_seconds_count{stage="embed"}`:             0,
		`faceverify_agent_analyze_duration_seconds_bucket{stage="total",le="0.004"}`: 0,
		`faceverify_agent_analyze_duration_seconds_bucket{stage="total",le="0.008"}`: analyzed,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if analyzed < float64(cfg.Session.PassFrames) || m["faceverify_agent_frames_total"] < analyzed {
		t.Errorf("frames %v analysed %v", m["faceverify_agent_frames_total"], analyzed)
	}
	if _, ok := m["faceverify_agent_capture_fps"]; !ok {
		t.Error("no capture_fps gauge")
	}
	// The same registry is served on the loopback API.
	if api := scrape(t, h.url("/metrics")); api[`faceverify_agent_sessions_total{reason="",status="VERIFIED"}`] != 1 {
		t.Error("API /metrics differs")
	}
}

// TestSpooledUploadReachesTheSession: the gateway fails every upload of the
// session at first; the agent's spool keeps the submission, the session
// waits (state "queued"), and the spool's later delivery moves the session
// on to processing and its verdict. The gateway counts the attempt once.
func TestSpooledUploadReachesTheSession(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	gw.OnSubmit = func(n int, _ api.SubmissionRequest) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusAccepted
	}
	sp, err := spool.New(spool.Options{Dir: filepath.Join(t.TempDir(), "spool"), Key: bytes.Repeat([]byte{1}, spool.KeyLen),
		Next: gateway.New(gateway.Options{}), RetryInitial: 20 * time.Millisecond, RetryMax: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	an := &agenttest.Analyzer{Default: agenttest.OneFace(faceBox, true)}
	h := startDeps(t, testCfg(), Deps{Source: source(green), Analyzer: an, Gateway: gateway.New(gateway.Options{}), Spool: sp})
	if code, _ := h.post("/v1/verify", launchBody(gw.URL())); code != 202 {
		t.Fatalf("launch: %d", code)
	}
	if v := h.waitFinal(); v.Status != api.StatusVerified || v.Uploads != 1 {
		t.Fatalf("session %+v, want VERIFIED after one upload", v)
	}
	want := []string{"capturing", "uploading", "queued:gateway_unreachable", "processing", "verified"}
	if got := states(h.pub.Events()); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	subs := gw.Submissions()
	keys := map[string]bool{}
	for _, s := range subs {
		keys[s.Request.IdempotencyKey] = true
	}
	if len(subs) != 4 || len(keys) != 1 {
		t.Errorf("%d tries with %d keys, want 4 tries of one attempt", len(subs), len(keys))
	}
	m := scrape(t, h.url("/metrics"))
	if m[`faceverify_agent_uploads_total{result="queued"}`] != 1 || m["faceverify_agent_spool_delivered_total"] != 1 ||
		m["faceverify_agent_spool_records"] != 0 || m["faceverify_agent_spool_retries_total"] != 2 {
		t.Errorf("spool metrics: queued %v delivered %v records %v retries %v", m[`faceverify_agent_uploads_total{result="queued"}`],
			m["faceverify_agent_spool_delivered_total"], m["faceverify_agent_spool_records"], m["faceverify_agent_spool_retries_total"])
	}
}

// TestHealthClockUnsynced: with the clock before clock.min_valid the agent
// reports degraded/clock_unsynced, and ok once the clock is synced.
func TestHealthClockUnsynced(t *testing.T) {
	cfg := testCfg()
	cfg.Clock.MinValid = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(time.Unix(0, 0))
	a, err := New(cfg, Deps{Source: source(green), Analyzer: &agenttest.Analyzer{}, Gateway: gateway.New(gateway.Options{}), Clock: clk,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	get := func() Health {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.Host = "127.0.0.1:8470"
		w := httptest.NewRecorder()
		a.Handler().ServeHTTP(w, req)
		var h Health
		if err := jsonDecode(w.Body, &h); err != nil || w.Code != 200 {
			t.Fatalf("healthz %d %v", w.Code, err)
		}
		return h
	}
	if h := get(); h.Status != health.Degraded || !slices.Contains(h.Reasons, "clock_unsynced") {
		t.Errorf("1970 clock: %+v", h)
	}
	clk.Advance(cfg.Clock.MinValid.Sub(clk.Now()) + time.Minute)
	if h := get(); slices.Contains(h.Reasons, "clock_unsynced") {
		t.Errorf("synced clock: %+v", h)
	}
	a.Health().Set("gpio", false, "gpio")
	if h := get(); h.Status != health.Degraded || !slices.Contains(h.Reasons, "gpio") {
		t.Errorf("gpio down: %+v", h)
	}
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
