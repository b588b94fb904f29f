package agent

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/agent/control"
	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/capture/capturetest"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/uplink/gateway"
)

func getHealth(t *testing.T, a *Agent) Health {
	t.Helper()
	resp, err := http.Get("http://" + a.APIAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func waitHealth(t *testing.T, a *Agent, status, reason string) Health {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := getHealth(t, a)
		if h.Status == status && (reason == "" && len(h.Reasons) == 0 || reason != "" && slices.Contains(h.Reasons, reason)) {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz = %+v, want %s %s", h, status, reason)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDaemonCameraAbsentLostAndBack: the agent starts without its camera
// (degraded, CAMERA_ABSENT), serves on, becomes ok when it is plugged in,
// ends a session with CAMERA_LOST when it is pulled out, and recovers when
// it comes back.
func TestDaemonCameraAbsentLostAndBack(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	cam := capturetest.NewCamera(false)
	cam.Image = capturetest.Frame(640, 480, color.RGBA{90, 90, 90, 255})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sup := capture.NewSupervisor(cam, capture.SupervisorOptions{RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, CheckEvery: 10 * time.Millisecond, Logger: quiet})
	an := &signalAnalyzer{Analyzer: &agenttest.Analyzer{Default: agenttest.NoFace()}, analyzed: make(chan struct{}, 1)}
	a, err := New(testCfg(), Deps{
		Source: sup, Analyzer: an,
		Gateway: gateway.New(gateway.Options{}), Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	<-a.Ready()
	<-a.CameraChecked()

	h := waitHealth(t, a, "degraded", capture.ReasonAbsent)
	if n := strings.Count(strings.Join(h.Reasons, " "), capture.ReasonAbsent); n != 1 {
		t.Fatalf("reasons %v: CAMERA_ABSENT %d times, want once", h.Reasons, n)
	}
	if r := a.Health().Report(); r.Components["camera"].OK || r.Components["camera"].Reason != capture.ReasonAbsent {
		t.Fatalf("registry camera component = %+v", r.Components["camera"])
	}
	if h.CameraHealth == nil || h.CameraHealth.State != capture.HealthDegraded || !strings.Contains(h.CameraHealth.Detail, "unplugged") {
		t.Fatalf("camera_health = %+v", h.CameraHealth)
	}
	launch := func() SessionView {
		t.Helper()
		v, err := a.Launch(ctx, control.LaunchRequest{Token: token, CorrelationID: "corr-1", BaseURL: gw.URL()})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if v, _ = a.Session(); v.Status != "" {
				return v
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatal("session did not finish")
		return v
	}
	if v := launch(); v.Reason != "CAMERA_LOST" {
		t.Fatalf("session without a camera: %+v, want CAMERA_LOST", v)
	}

	cam.Plug()
	waitHealth(t, a, "ok", "")

	// Pull the camera out while a session captures: once it has analysed
	// a frame.
	for len(an.analyzed) > 0 {
		<-an.analyzed // from before this session
	}
	go func() {
		<-an.analyzed
		cam.Unplug()
	}()
	if v := launch(); v.Status != "FAILED" || v.Reason != "CAMERA_LOST" {
		t.Fatalf("session with an unplugged camera: %+v, want FAILED CAMERA_LOST", v)
	}
	waitHealth(t, a, "degraded", capture.ReasonLost)

	cam.Plug()
	waitHealth(t, a, "ok", "")
}

// TestCameraHealthSinceIsSet: /healthz never shows camera_health.since as
// the zero time; for a camera without its own supervision it is when the
// agent was made.
func TestCameraHealthSinceIsSet(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	before := time.Now()
	h := start(t, testCfg(), source(green), &agenttest.Analyzer{}, gw, nil)
	got := getHealth(t, h.a)
	if got.CameraHealth == nil || got.CameraHealth.State != capture.HealthOK {
		t.Fatalf("camera_health %+v", got.CameraHealth)
	}
	if since := got.CameraHealth.Since; since.Before(before.Add(-time.Second)) || since.After(time.Now()) {
		t.Errorf("camera_health.since = %v, want the agent's start (after %v)", since, before)
	}
}

// signalAnalyzer signals analyzed (buffered 1, never blocking) after each
// analysis.
type signalAnalyzer struct {
	*agenttest.Analyzer
	analyzed chan struct{}
}

func (s *signalAnalyzer) Analyze(ctx context.Context, img image.Image, o inference.Options) (inference.Analysis, error) {
	an, err := s.Analyzer.Analyze(ctx, img, o)
	select {
	case s.analyzed <- struct{}{}:
	default:
	}
	return an, err
}
