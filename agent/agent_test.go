package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/agent/config"
	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/capture/capturetest"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/uplink"
	"github.com/faceverify/faceverify/uplink/gateway"
	"github.com/faceverify/faceverify/uplink/uplinktest"
)

var (
	green   = color.RGBA{0, 200, 0, 255}
	red     = color.RGBA{200, 0, 0, 255}
	grey    = color.RGBA{90, 90, 90, 255}
	faceBox = inference.Box{X: 600, Y: 400, W: 100, H: 100}
)

const token = "user-token-SECRET-123"

func testCfg() config.Config {
	c := config.DefaultConfig()
	c.Device.ID = "kiosk-test"
	c.API.Listen = "127.0.0.1:0"
	c.MQTT.Broker = ""
	c.Capture.Window = time.Second
	c.Capture.AnalyzeFPS = 50
	c.Session.Timeout = 30 * time.Second
	c.Session.PollInitial = 0
	c.Session.PollMin = 50 * time.Millisecond
	c.Session.PollMax = 200 * time.Millisecond
	c.Session.RetryBackoff = 20 * time.Millisecond
	c.Session.RetryBackoffMax = 50 * time.Millisecond
	c.Session.ResultHold = 0
	c.Session.LocalAttempts = 2
	return c
}

func source(c color.RGBA) *capturetest.Source {
	return &capturetest.Source{Steps: []capturetest.Step{{Image: capturetest.Frame(1280, 960, c)}}, Repeat: true}
}

type harness struct {
	t      *testing.T
	a      *Agent
	gw     *agenttest.Gateway
	pub    *uplinktest.Publisher
	leds   *led.Recorder
	src    *capturetest.Source
	an     *agenttest.Analyzer
	stop   func()
	runErr chan error
}

func start(t *testing.T, cfg config.Config, src *capturetest.Source, an *agenttest.Analyzer, gw *agenttest.Gateway, pub uplink.Publisher) *harness {
	t.Helper()
	h := &harness{t: t, gw: gw, src: src, an: an, leds: &led.Recorder{}, runErr: make(chan error, 1)}
	if pub == nil {
		h.pub = uplinktest.NewPublisher(cfg.Device.ID)
		pub = h.pub
	}
	a, err := New(cfg, Deps{
		Source: src, Analyzer: an, Gateway: gateway.New(gateway.Options{}), Publisher: pub, LEDs: h.leds,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.a = a
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.runErr <- a.Run(ctx) }()
	h.stop = func() {
		cancel()
		select {
		case err := <-h.runErr:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("Run did not stop within a minute")
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			h.stop()
		}
	})
	select {
	case <-a.Ready():
	case <-time.After(time.Minute):
		t.Fatal("agent not ready")
	}
	return h
}

func (h *harness) url(path string) string { return "http://" + h.a.APIAddr() + path }

func (h *harness) post(path, body string) (int, map[string]any) {
	h.t.Helper()
	resp, err := http.Post(h.url(path), "application/json", strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// waitFinal polls GET /v1/session until the session is final.
func (h *harness) waitFinal() SessionView {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(h.url("/v1/session"))
		if err != nil {
			h.t.Fatal(err)
		}
		var v SessionView
		json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if v.Status != "" {
			return v
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatal("session did not finish within 20s")
	return SessionView{}
}

// states lists the state changes, skipping guidance events (state
// "capturing" with a guidance code), which guidanceCodes lists.
func states(evs []uplink.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Guidance != "" {
			continue
		}
		s := e.State
		if e.Reason != "" {
			s += ":" + e.Reason
		}
		out = append(out, s)
	}
	return out
}

func launchBody(base string) string {
	return `{"token":"` + token + `","correlationId":"corr-1","baseURL":"` + base + `"}`
}

func TestDaemonHTTPLaunchObeysRetryAndStatus(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	// Upload 1: STATUS (retry after 60 ms), then RETRY. Upload 2: EXIT VERIFIED.
	gw.OnStatus = func(uploads, poll int) (api.StatusResponse, int) {
		switch {
		case uploads == 1 && poll == 1:
			return api.StatusResponse{Status: api.StatusProcessing, NextAction: api.ActionStatus, RetryAfterMS: 60, AttemptsLeft: 2}, 200
		case uploads == 1:
			return api.StatusResponse{Status: api.StatusProcessing, NextAction: api.ActionRetry, Reason: api.ReasonLivenessFailed, AttemptsLeft: 1}, 200
		}
		return api.StatusResponse{Status: api.StatusVerified, NextAction: api.ActionExit, AttemptsLeft: 1}, 200
	}
	an := &agenttest.Analyzer{ByColor: map[color.RGBA]inference.Analysis{green: agenttest.OneFace(faceBox, true)}}
	h := start(t, testCfg(), source(green), an, gw, nil)

	code, body := h.post("/v1/verify", launchBody(gw.URL()))
	if code != http.StatusAccepted || body["session_id"] == "" || body["correlation_id"] != "corr-1" {
		t.Fatalf("launch: %d %v", code, body)
	}
	v := h.waitFinal()
	if v.Status != api.StatusVerified || v.State != "verified" || v.Attempt != 2 || v.Uploads != 2 {
		t.Fatalf("final %+v, want verified after 2 attempts", v)
	}
	subs := gw.Submissions()
	if len(subs) != 2 {
		t.Fatalf("%d submissions, want exactly one per attempt (2)", len(subs))
	}
	if subs[0].Request.IdempotencyKey == subs[1].Request.IdempotencyKey || subs[0].HeaderKey != subs[0].Request.IdempotencyKey {
		t.Errorf("idempotency keys %q %q (header %q)", subs[0].Request.IdempotencyKey, subs[1].Request.IdempotencyKey, subs[0].HeaderKey)
	}
	for i, s := range subs {
		if s.Auth != "Bearer "+token || s.Request.DeviceID != "kiosk-test" || !s.Request.DeviceLiveness.Live || s.Request.DeviceLiveness.Model == "" {
			t.Errorf("submission %d: auth %q device %q liveness %+v", i, s.Auth, s.Request.DeviceID, s.Request.DeviceLiveness)
		}
		img, err := jpeg.Decode(bytes.NewReader(s.Request.Selfie))
		if err != nil {
			t.Fatalf("submission %d selfie: %v", i, err)
		}
		// 3 × the 100 px face box, not the 1280×960 frame.
		if b := img.Bounds(); b.Dx() != 300 || b.Dy() != 300 {
			t.Errorf("selfie %v, want the 300×300 face crop", b)
		}
		// The round's other passing frames go as extras, cropped alike.
		if n := len(s.Request.SelfieExtra); n < 1 || n > api.MaxSelfieExtra {
			t.Errorf("submission %d: %d extra images, want 1–%d", i, n, api.MaxSelfieExtra)
		}
		for j, e := range s.Request.SelfieExtra {
			if img, err := jpeg.Decode(bytes.NewReader(e)); err != nil || img.Bounds().Dx() != 300 {
				t.Errorf("submission %d extra %d: %v", i, j, err)
			}
		}
	}
	if gw.Polls() < 3 {
		t.Errorf("%d polls, want ≥ 3 (STATUS, RETRY, EXIT)", gw.Polls())
	}
	want := []string{"capturing", "uploading", "processing", "capturing", "uploading", "processing", "verified"}
	if got := states(h.pub.Events()); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events %v, want %v", got, want)
	}
	for i, e := range h.pub.Events() {
		if e.Seq != uint64(i+1) || e.CorrelationID != "corr-1" || e.SessionID != v.SessionID {
			t.Errorf("event %d = %+v", i, e)
		}
	}
	leds := h.leds.States()
	if leds[len(leds)-1] != led.Success && !(leds[len(leds)-1] == led.Idle && leds[len(leds)-2] == led.Success) {
		t.Errorf("LEDs %v, want success at the end", leds)
	}
	if h.src.Opens() != 2 || h.src.Closes() != 2 {
		t.Errorf("camera opened %d closed %d, want 2/2 (one per capture round)", h.src.Opens(), h.src.Closes())
	}
}

func TestDaemonLocalFailuresAreNotUploaded(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	an := &agenttest.Analyzer{Default: agenttest.NoFace()}
	cfg := testCfg()
	cfg.Capture.Window = 500 * time.Millisecond
	h := start(t, cfg, source(grey), an, gw, nil)
	if code, body := h.post("/v1/verify", launchBody(gw.URL())); code != http.StatusAccepted {
		t.Fatalf("launch %d %v", code, body)
	}
	v := h.waitFinal()
	if v.Status != "FAILED" || v.Reason != api.ReasonNoFace || v.Attempt != 2 {
		t.Errorf("final %+v, want FAILED NO_FACE after 2 local rounds", v)
	}
	if n := len(gw.Submissions()); n != 0 {
		t.Errorf("%d submissions for local failures, want 0", n)
	}
	if an.Calls() < 2 {
		t.Errorf("analyzer ran %d times", an.Calls())
	}
}

func TestDaemonSpoofUploadedWithLiveFalse(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	gw.OnStatus = func(uploads, poll int) (api.StatusResponse, int) {
		return api.StatusResponse{Status: api.StatusRejected, NextAction: api.ActionExit, Reason: api.ReasonLivenessFailed}, 200
	}
	an := &agenttest.Analyzer{ByColor: map[color.RGBA]inference.Analysis{red: agenttest.OneFace(faceBox, false)}}
	cfg := testCfg()
	cfg.Capture.Window = 500 * time.Millisecond
	h := start(t, cfg, source(red), an, gw, nil)
	h.post("/v1/verify", launchBody(gw.URL()))
	v := h.waitFinal()
	if v.Status != api.StatusRejected || v.Reason != api.ReasonLivenessFailed {
		t.Errorf("final %+v", v)
	}
	subs := gw.Submissions()
	if len(subs) != 1 || subs[0].Request.DeviceLiveness.Live || subs[0].Request.DeviceLiveness.Score > 0.5 {
		t.Fatalf("submissions %+v, want one with live=false", subs)
	}
}

func TestDaemonCameraLost(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	src := &capturetest.Source{Steps: []capturetest.Step{
		{Image: capturetest.Frame(640, 480, grey)}, {Image: capturetest.Frame(640, 480, grey)}, {Err: capturetest.ErrLost},
	}}
	h := start(t, testCfg(), src, &agenttest.Analyzer{Default: agenttest.NoFace()}, gw, nil)
	h.post("/v1/verify", launchBody(gw.URL()))
	if v := h.waitFinal(); v.Status != "FAILED" || v.Reason != "CAMERA_LOST" {
		t.Errorf("final %+v, want FAILED CAMERA_LOST", v)
	}
}

func TestDaemonTokenExpiredEndsSession(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	gw.OnSubmit = func(n int, _ api.SubmissionRequest) int { return http.StatusGone }
	an := &agenttest.Analyzer{Default: agenttest.OneFace(faceBox, true)}
	h := start(t, testCfg(), source(green), an, gw, nil)
	h.post("/v1/verify", launchBody(gw.URL()))
	if v := h.waitFinal(); v.Status != "FAILED" || v.Reason != "TOKEN_EXPIRED" {
		t.Errorf("final %+v, want FAILED TOKEN_EXPIRED", v)
	}
	if n := len(gw.Submissions()); n != 1 {
		t.Errorf("%d submissions, want 1 (no retry after 410)", n)
	}
}

func TestDaemonUploadRetriedOn5xxWithSameKey(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	gw.OnSubmit = func(n int, _ api.SubmissionRequest) int {
		if n < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusAccepted
	}
	an := &agenttest.Analyzer{Default: agenttest.OneFace(faceBox, true)}
	h := start(t, testCfg(), source(green), an, gw, nil)
	h.post("/v1/verify", launchBody(gw.URL()))
	if v := h.waitFinal(); v.Status != api.StatusVerified {
		t.Fatalf("final %+v", v)
	}
	subs := gw.Submissions()
	if len(subs) != 3 || subs[0].Request.IdempotencyKey != subs[2].Request.IdempotencyKey {
		t.Errorf("%d tries; keys must match across tries", len(subs))
	}
}

func TestDaemonBusyCancelAndShutdown(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	gw.OnStatus = func(int, int) (api.StatusResponse, int) {
		return api.StatusResponse{Status: api.StatusProcessing, NextAction: api.ActionStatus, RetryAfterMS: 50}, 200
	}
	an := &agenttest.Analyzer{Default: agenttest.OneFace(faceBox, true)}
	h := start(t, testCfg(), source(green), an, gw, nil)

	if code, _ := h.post("/v1/cancel", ""); code != http.StatusConflict {
		t.Errorf("cancel without a session: %d, want 409", code)
	}
	if code, _ := h.post("/v1/verify", launchBody(gw.URL())); code != http.StatusAccepted {
		t.Fatalf("launch %d", code)
	}
	code, body := h.post("/v1/verify", launchBody(gw.URL()))
	if code != http.StatusConflict || body["code"] != "busy" {
		t.Errorf("second launch: %d %v, want 409 busy", code, body)
	}
	code, body = h.post("/v1/cancel", "")
	if code != http.StatusOK || body["state"] != "cancelled" {
		t.Errorf("cancel: %d %v", code, body)
	}

	// A session running at shutdown is cancelled and reported.
	if code, _ := h.post("/v1/verify", launchBody(gw.URL())); code != http.StatusAccepted {
		t.Fatalf("relaunch after cancel: %d", code)
	}
	h.stop()
	evs := h.pub.Events()
	if last := evs[len(evs)-1]; last.State != "cancelled" || last.Reason != "SHUTDOWN" {
		t.Errorf("last event %+v, want cancelled SHUTDOWN", last)
	}
	if h.src.Opens() != h.src.Closes() {
		t.Errorf("camera opened %d closed %d", h.src.Opens(), h.src.Closes())
	}
}

func TestAPIRefusesBadRequests(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	h := start(t, testCfg(), source(green), &agenttest.Analyzer{}, gw, nil)
	do := func(method, path, ctype, body string, hdr map[string]string) (int, map[string]any) {
		req, _ := http.NewRequest(method, h.url(path), strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	cases := []struct {
		name      string
		method    string
		path      string
		ctype     string
		body      string
		hdr       map[string]string
		wantCode  int
		wantField string
	}{
		{"no session yet", "GET", "/v1/session", "", "", nil, 404, ""},
		{"text/plain body (cross-site form)", "POST", "/v1/verify", "text/plain", launchBody(gw.URL()), nil, 415, ""},
		{"not json", "POST", "/v1/verify", "application/json", "{", nil, 400, ""},
		{"missing token", "POST", "/v1/verify", "application/json", `{"correlation_id":"c","base_url":"https://gw.example"}`, nil, 400, "token"},
		{"http to a remote host", "POST", "/v1/verify", "application/json", `{"token":"t","correlation_id":"c","base_url":"http://gw.example.com"}`, nil, 400, "base_url"},
		{"ftp scheme", "POST", "/v1/verify", "application/json", `{"token":"t","correlation_id":"c","base_url":"ftp://gw.example.com"}`, nil, 400, "base_url"},
		{"conflicting spellings", "POST", "/v1/verify", "application/json", `{"token":"t","correlation_id":"a","correlationId":"b","base_url":"https://g"}`, nil, 400, "correlation_id"},
		{"token of wrong type", "POST", "/v1/verify", "application/json", `{"token":5,"correlation_id":"a","base_url":"https://g"}`, nil, 400, "token"},
		{"correlation id with a space", "POST", "/v1/verify", "application/json", `{"token":"t","correlation_id":"ord 1","base_url":"https://g"}`, nil, 400, "correlation_id"},
		{"correlation id with a slash", "POST", "/v1/verify", "application/json", `{"token":"t","correlation_id":"ord/1","base_url":"https://g"}`, nil, 400, "correlation_id"},
		{"correlation id not ASCII", "POST", "/v1/verify", "application/json", `{"token":"t","correlation_id":"ordé","base_url":"https://g"}`, nil, 400, "correlation_id"},
		{"correlation id of 129 characters", "POST", "/v1/verify", "application/json", `{"token":"t","correlation_id":"` + strings.Repeat("a", 129) + `","base_url":"https://g"}`, nil, 400, "correlation_id"},
		{"body too large", "POST", "/v1/verify", "application/json", `{"token":"` + strings.Repeat("a", 20000) + `"}`, nil, 413, ""},
		{"DNS-rebinding Host", "GET", "/healthz", "", "", map[string]string{"Host": "evil.example:8470"}, 403, ""},
		{"foreign Origin", "POST", "/v1/verify", "application/json", launchBody(gw.URL()), map[string]string{"Origin": "https://evil.example"}, 403, ""},
		{"health", "GET", "/healthz", "", "", nil, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(tc.method, tc.path, tc.ctype, tc.body, tc.hdr)
			if code != tc.wantCode {
				t.Fatalf("%s %s: %d %v, want %d", tc.method, tc.path, code, body, tc.wantCode)
			}
			if tc.wantField != "" && body["field"] != tc.wantField {
				t.Errorf("field %v, want %q (%v)", body["field"], tc.wantField, body)
			}
		})
	}
	if n := len(gw.Submissions()); n != 0 {
		t.Errorf("refused requests caused %d submissions", n)
	}
	if _, ok := h.a.Session(); ok {
		t.Error("a refused request started a session")
	}
}
