package gateway_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/inference"
)

// crop is a synthetic 112×112 "aligned face": a few smooth blobs placed by
// seed, plus noise of the given amplitude (grey levels) from noiseSeed.
// Crops of different seeds share no structure; the same seed with a little
// noise is a near-identical capture.
func crop(seed uint64, noise float64, noiseSeed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	type blob struct{ x, y, s, a float64 }
	blobs := make([]blob, 8)
	for i := range blobs {
		blobs[i] = blob{r.Float64() * 112, r.Float64() * 112, 8 + r.Float64()*20, -80 + r.Float64()*160}
	}
	n := rand.New(rand.NewPCG(noiseSeed, 2))
	img := image.NewRGBA(image.Rect(0, 0, inference.ArcFaceSize, inference.ArcFaceSize))
	for y := range inference.ArcFaceSize {
		for x := range inference.ArcFaceSize {
			v := 128.0
			for _, b := range blobs {
				dx, dy := float64(x)-b.x, float64(y)-b.y
				v += b.a * math.Exp(-(dx*dx+dy*dy)/(2*b.s*b.s))
			}
			v += noise * (n.Float64()*2 - 1)
			g := uint8(max(0, min(255, math.Round(v))))
			img.SetRGBA(x, y, color.RGBA{g, g, g, 255})
		}
	}
	return img
}

// mirrored is img flipped left to right.
func mirrored(img *image.RGBA) *image.RGBA {
	out := image.NewRGBA(img.Rect)
	w := img.Rect.Dx()
	for y := range img.Rect.Dy() {
		for x := range w {
			out.SetRGBA(w-1-x, y, img.RGBAAt(x, y))
		}
	}
	return out
}

// liveWithCrop is a live, OK analysis whose subject has embedding emb and
// aligned crop c.
func liveWithCrop(emb []float32, c *image.RGBA) inference.Analysis {
	a := gatewaytest.Live(emb)
	if c != nil {
		a.Faces[0].Aligned = c
	}
	return a
}

// submitVariant submits a capture of colour c whose bytes are unique to
// seed, and waits for the decision.
func (e *env) submitVariant(tok string, c color.RGBA, seed string) api.StatusResponse {
	e.t.Helper()
	req := selfie(c, seed)
	req.Selfie = gatewaytest.PNGVariant(c, seed)
	if code, _, ae := e.submit(tok, req); code != http.StatusAccepted {
		e.t.Fatalf("submit %s: %d %+v", seed, code, ae)
	}
	return e.waitStatus(tok)
}

// metric returns the /metrics line starting with prefix, or "".
func (e *env) metric(prefix string) string {
	e.t.Helper()
	resp, err := http.Get(e.url + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestReferenceReplay: a selfie whose aligned crop is the reference's (or
// its mirror image) is REJECTED, REFERENCE_REPLAY, final at once, counted
// as an injection attack and reported in details and the callback; another
// capture of the same person is VERIFIED even at embedding cosine 1.
func TestReferenceReplay(t *testing.T) {
	ref := crop(1, 0, 0)
	tests := []struct {
		name       string
		selfieCrop *image.RGBA
		want       string // reason; "" for VERIFIED
	}{
		{"same crop", ref, api.ReasonReferenceReplay},
		{"recaptured copy", crop(1, 6, 7), api.ReasonReferenceReplay},
		{"mirrored copy", mirrored(crop(1, 4, 8)), api.ReasonReferenceReplay},
		{"another capture, same person", crop(2, 4, 9), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.analyzer.Set(gatewaytest.Red, liveWithCrop(gatewaytest.E(1), tt.selfieCrop))
			e.analyzer.Set(gatewaytest.Green, liveWithCrop(gatewaytest.E(1), ref))
			e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
			tok, cid := e.initiate("alice")
			st := e.submitVariant(tok, gatewaytest.Red, tt.name)
			if tt.want == "" {
				if st.Status != api.StatusVerified {
					t.Fatalf("status %+v, want VERIFIED", st)
				}
				return
			}
			want := api.StatusResponse{CorrelationID: cid, Status: api.StatusRejected, NextAction: api.ActionExit, Reason: tt.want, AttemptsLeft: 2}
			if st != want {
				t.Fatalf("status %+v, want %+v", st, want)
			}
			if d := e.details(cid); d.Reason != tt.want || d.Attempts[0].Reason != tt.want || !strings.Contains(d.Detail, "copy of the reference") {
				t.Errorf("details %+v", d)
			}
			cbs := e.waitCallbacks(1)
			var cb api.Callback
			if err := json.Unmarshal(cbs[0].body, &cb); err != nil || cb.Reason != tt.want || cb.Status != api.StatusRejected {
				t.Errorf("callback %s (%v)", cbs[0].body, err)
			}
			if got := e.metric(`faceverify_gateway_injection_attacks_total{kind="reference_replay"}`); !strings.HasSuffix(got, " 1") {
				t.Errorf("attack metric %q, want 1", got)
			}
		})
	}
}

// TestSubmissionReplay: a live selfie repeating one of another user's flow
// (same bytes, or a near-identical or mirrored aligned crop) is REJECTED,
// SUBMISSION_REPLAY, final, before the reference is fetched; a different
// capture is not, nor is a repeat older than replay.window.
func TestSubmissionReplay(t *testing.T) {
	first := crop(10, 0, 0)
	tests := []struct {
		name      string
		sameBytes bool
		crop      *image.RGBA // nil: the fake's default, no aligned crop
		advance   time.Duration
		want      string
	}{
		{"same bytes", true, nil, 0, api.ReasonSubmissionReplay},
		{"near-identical crop", false, crop(10, 3, 5), 0, api.ReasonSubmissionReplay},
		{"mirrored crop", false, mirrored(first), 0, api.ReasonSubmissionReplay},
		{"another capture", false, crop(11, 3, 5), 0, ""},
		{"same bytes after the window", true, nil, 721 * time.Hour, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Without prefetch a reference is fetched only when a selfie needs it.
			e := newEnv(t, func(c *gateway.Config) { c.Reference.Prefetch = 0 })
			e.analyzer.Set(gatewaytest.Green, liveWithCrop(gatewaytest.E(1), crop(99, 0, 0)))
			e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
			firstCrop := first
			if tt.crop == nil {
				firstCrop = nil
			}
			e.analyzer.Set(gatewaytest.Red, liveWithCrop(gatewaytest.E(1), firstCrop))
			tokA, _ := e.initiate("alice")
			if st := e.submitVariant(tokA, gatewaytest.Red, "capture-1"); st.Status != api.StatusVerified {
				t.Fatalf("first flow %+v, want VERIFIED", st)
			}
			e.clock.Advance(tt.advance)
			defer e.clock.Advance(-tt.advance)
			seed := "capture-1"
			if !tt.sameBytes {
				seed = "capture-2"
				e.analyzer.Set(gatewaytest.Red, liveWithCrop(gatewaytest.E(1), tt.crop))
			}
			refCalls := e.partner.referenceCalls()
			tokB, cidB := e.initiate("bob")
			st := e.submitVariant(tokB, gatewaytest.Red, seed)
			if tt.want == "" {
				if st.Status != api.StatusVerified {
					t.Fatalf("second flow %+v, want VERIFIED", st)
				}
				return
			}
			want := api.StatusResponse{CorrelationID: cidB, Status: api.StatusRejected, NextAction: api.ActionExit, Reason: tt.want, AttemptsLeft: 2}
			if st != want {
				t.Fatalf("second flow %+v, want %+v", st, want)
			}
			if d := e.details(cidB); !strings.Contains(d.Detail, "another verification") {
				t.Errorf("detail %q", d.Detail)
			}
			if n := e.partner.referenceCalls(); n != refCalls {
				t.Errorf("reference fetched %d times for a replayed selfie", n-refCalls)
			}
			if got := e.metric(`faceverify_gateway_injection_attacks_total{kind="submission_replay"}`); !strings.HasSuffix(got, " 1") {
				t.Errorf("attack metric %q, want 1", got)
			}
		})
	}
}

// TestSameFlowRetryIsNotReplay: a selfie whose processing is retried (the
// reference analysis failed once after the selfie's hash was recorded)
// meets its own hash again, in its own flow, and is VERIFIED.
func TestSameFlowRetryIsNotReplay(t *testing.T) {
	e := newEnv(t)
	c := crop(20, 0, 0)
	e.analyzer.Set(gatewaytest.Red, liveWithCrop(gatewaytest.E(1), c))
	e.analyzer.Set(gatewaytest.Green, liveWithCrop(gatewaytest.E(1), crop(21, 0, 0)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	var failed atomic.Bool
	e.analyzer.Hook = func(_ context.Context, col color.RGBA, _ inference.Options) error {
		if col == gatewaytest.Green && failed.CompareAndSwap(false, true) {
			return errors.New("runtime hiccup")
		}
		return nil
	}
	tok, cid := e.initiate("alice")
	if st := e.submitVariant(tok, gatewaytest.Red, "only"); st.Status != api.StatusVerified {
		t.Fatalf("status %+v, want VERIFIED", st)
	}
	if !failed.Load() {
		t.Fatal("the reference analysis never failed: the retry was not exercised")
	}
	if d := e.details(cid); len(d.Attempts) != 1 {
		t.Errorf("%d attempts, want 1", len(d.Attempts))
	}
}

// signedEnv is an env that requires device signatures, with device
// "kiosk-1" enrolled under key.
func signedEnv(t *testing.T) (*env, ed25519.PrivateKey) {
	t.Helper()
	e := newEnv(t, func(c *gateway.Config) {
		c.Devices.RequireSignature = true
		c.Devices.EnrollToken = "enroll-token-0123456789"
	})
	pub, key, _ := ed25519.GenerateKey(nil)
	req := api.RegisterDeviceRequest{DeviceID: "kiosk-1", PublicKey: base64.StdEncoding.EncodeToString(pub)}
	if code, ae := e.do("POST", api.PathDevices, "enroll-token-0123456789", req, nil, nil); code != http.StatusCreated {
		t.Fatalf("enroll: %d %+v", code, ae)
	}
	return e, key
}

// signed is a submission body and its signature headers for flow cid.
type signed struct {
	body []byte
	hdr  map[string]string
}

func sign(key ed25519.PrivateKey, cid string, at time.Time, req api.SubmissionRequest) signed {
	body, _ := json.Marshal(req)
	dev, ts, sig := api.SignDevice(key, "kiosk-1", cid, at, body)
	return signed{body, map[string]string{api.DeviceHeader: dev, api.DeviceTimestampHeader: ts, api.DeviceSignatureHeader: sig}}
}

func (s signed) with(k, v string) signed {
	h := map[string]string{}
	for a, b := range s.hdr {
		h[a] = b
	}
	h[k] = v
	return signed{s.body, h}
}

// TestSignedSubmissionReplay: signed submissions need an idempotency key in
// the signed body; the agent's exact resend (or a re-signed resend) of a
// request gets its original answer; the same signature with another key,
// another body or in another flow is refused; none of the refusals costs
// an attempt.
func TestSignedSubmissionReplay(t *testing.T) {
	e, key := signedEnv(t)
	block := make(chan struct{})
	defer close(block)
	e.analyzer.Hook = func(ctx context.Context, _ color.RGBA, _ inference.Options) error {
		select { // keep the first attempt processing: nothing else may start
		case <-block:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	tok, cid := e.initiate("alice")
	now := e.clock.Now()
	noKey := selfie(gatewaytest.Red, "")
	good := selfie(gatewaytest.Red, "key-1")
	first := sign(key, cid, now, good)
	other := selfie(gatewaytest.Blue, "key-1")
	otherBody := sign(key, cid, now, other)
	otherBody.hdr = first.hdr // the first request's signature on another body

	// The same correlation id at the second partner: another flow.
	var tr api.TokenResponse
	e.do("POST", api.PathToken, "", api.TokenRequest{ClientID: "selfie-only", Passkey: "selfie-only-passkey-01"}, nil, &tr)
	var ir api.InitiateResponse
	if code, ae := e.do("POST", api.PathFlows, tr.PartnerToken, api.InitiateRequest{PartnerUserID: "bob", PartnerUserIDType: "account",
		Flow: api.FlowSelfie, CorrelationID: cid}, nil, &ir); code != http.StatusCreated {
		t.Fatalf("second partner's flow: %d %+v", code, ae)
	}

	var accepted api.SubmissionResponse
	steps := []struct {
		name     string
		tok      string
		req      signed
		wantCode int
		wantErr  string
	}{
		{"no idempotency key", tok, sign(key, cid, now, noKey), http.StatusBadRequest, api.CodeIdempotencyKeyRequired},
		{"key only in the unsigned header", tok, sign(key, cid, now, noKey).with("Idempotency-Key", "key-0"), http.StatusBadRequest, api.CodeIdempotencyKeyRequired},
		{"first", tok, first, http.StatusAccepted, ""},
		{"exact resend", tok, first.with("Idempotency-Key", "key-1"), http.StatusOK, ""},
		{"resend signed a second later", tok, sign(key, cid, now.Add(time.Second), good), http.StatusOK, ""},
		{"same signature, other key header", tok, first.with("Idempotency-Key", "key-2"), http.StatusBadRequest, api.CodeBadRequest},
		{"same signature, other body", tok, otherBody, http.StatusUnauthorized, api.CodeBadSignature},
		{"same signature, other flow", ir.UserToken, first, http.StatusUnauthorized, api.CodeSignatureReplayed},
	}
	for _, s := range steps {
		var sr api.SubmissionResponse
		code, ae := e.do("POST", api.PathSubmissions, s.tok, s.req.body, s.req.hdr, &sr)
		if code != s.wantCode || ae.Code != s.wantErr {
			t.Fatalf("%s: %d %+v, want %d %q", s.name, code, ae, s.wantCode, s.wantErr)
		}
		switch {
		case s.name == "first":
			accepted = sr
		case code == http.StatusOK:
			if !sr.Duplicate || sr.SubmissionID != accepted.SubmissionID || sr.Attempt != 1 {
				t.Errorf("%s: %+v, want the first attempt as a duplicate", s.name, sr)
			}
		}
	}
	if st := e.status(tok); st.AttemptsLeft != 2 {
		t.Errorf("flow: %d attempts left, want 2 (one attempt)", st.AttemptsLeft)
	}
	if st := e.status(ir.UserToken); st.AttemptsLeft != 3 || st.Status != api.StatusPending {
		t.Errorf("other flow %+v, want PENDING with 3 attempts left", st)
	}
	if got := e.metric(`faceverify_gateway_injection_attacks_total{kind="signature_replay"}`); !strings.HasSuffix(got, " 1") {
		t.Errorf("attack metric %q, want 1", got)
	}
}

// TestReplayConfig: the [replay] table decodes and validates by field name.
func TestReplayConfig(t *testing.T) {
	def := gateway.DefaultConfig().Replay
	if def.Window != 720*time.Hour || def.MaxDistance != 3 {
		t.Fatalf("defaults %+v", def)
	}
	tests := []struct {
		toml, wantErr string
	}{
		{"[replay]\nwindow = \"24h\"\nmax_distance = 0\n", ""},
		{"[replay]\nwindow = \"30m\"\n", "replay.window"},
		{"[replay]\nmax_distance = 4\n", "replay.max_distance"},
		{"[replay]\nwindows = \"24h\"\n", "replay.windows"},
	}
	for _, tt := range tests {
		cfg, err := gateway.DecodeConfig(strings.NewReader(tt.toml))
		if err == nil {
			cfg.Partners = []gateway.PartnerConfig{{ClientID: "p", PasskeyHashes: []string{gatewaytest.PasskeyHash("p-passkey-0123456789")}, ReferenceURL: "https://p.example/ref", Flows: []string{api.FlowSelfie}}}
			err = cfg.Validate()
		}
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%q: %v, want error naming %q", tt.toml, err, tt.wantErr)
		}
	}
}
