package gateway_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
)

// TestSelfieExtraDecisions: the liveness of the selfie and its extras is
// fused (mean of logits), and an extra repeating a selfie of another flow
// is a submission replay.
func TestSelfieExtraDecisions(t *testing.T) {
	logit := func(p float64) float64 { return math.Log(p / (1 - p)) }
	sigmoid := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	tests := []struct {
		name       string
		extras     [][]byte
		earlier    []byte // a selfie of another flow submitted first
		wantStatus string
		wantReason string
		wantLive   float64
	}{
		{"no extras: the selfie alone", nil, nil, api.StatusVerified, "", 0.95},
		{"live extras", [][]byte{gatewaytest.PNG(gatewaytest.Yellow), gatewaytest.PNG(gatewaytest.Grey)}, nil,
			api.StatusVerified, "", 0.95},
		{"one spoofed extra pulls the fused score down", [][]byte{gatewaytest.PNG(gatewaytest.Blue)}, nil,
			api.StatusRejected, api.ReasonLivenessFailed, sigmoid((logit(0.95) + logit(0.05)) / 2)},
		{"an extra without a face counts as a failed sample", [][]byte{gatewaytest.PNG(gatewaytest.Yellow), noFacePNG}, nil,
			api.StatusRejected, api.ReasonLivenessFailed, sigmoid((2*logit(0.95) + logit(1e-6)) / 3)},
		{"an extra repeating another flow's selfie", [][]byte{gatewaytest.PNG(gatewaytest.Yellow)}, gatewaytest.PNG(gatewaytest.Yellow),
			api.StatusRejected, api.ReasonSubmissionReplay, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
			e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
			e.analyzer.Set(gatewaytest.Yellow, gatewaytest.Live(gatewaytest.E(1)))
			e.analyzer.Set(gatewaytest.Grey, gatewaytest.Live(gatewaytest.E(1)))
			e.analyzer.Set(gatewaytest.Blue, gatewaytest.Spoof(gatewaytest.E(1)))
			e.analyzer.Set(noFaceColor, gatewaytest.NoFace())
			e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
			if tt.earlier != nil {
				tok, _ := e.initiate("bob")
				req := selfie(gatewaytest.Red, "earlier")
				req.Selfie = tt.earlier
				if code, sr, ae := e.submit(tok, req); code != http.StatusAccepted {
					t.Fatalf("earlier submit: %d %+v %+v", code, sr, ae)
				}
				if st := e.waitStatus(tok); st.Status != api.StatusVerified {
					t.Fatalf("earlier selfie: %+v", st)
				}
			}
			tok, cid := e.initiate("alice")
			req := selfie(gatewaytest.Red, "k1")
			req.SelfieExtra = tt.extras
			if code, sr, ae := e.submit(tok, req); code != http.StatusAccepted {
				t.Fatalf("submit: %d %+v %+v", code, sr, ae)
			}
			st := e.waitStatus(tok)
			if st.Status != tt.wantStatus || st.Reason != tt.wantReason {
				t.Fatalf("status %s %s, want %s %s", st.Status, st.Reason, tt.wantStatus, tt.wantReason)
			}
			d := e.details(cid)
			if tt.wantLive >= 0 && (d.Scores.Liveness == nil || math.Abs(*d.Scores.Liveness-tt.wantLive) > 1e-9) {
				t.Errorf("liveness %v, want %.6f", d.Scores.Liveness, tt.wantLive)
			}
			// Repeating the request is the same attempt; the same key with
			// other extras is an idempotency conflict.
			if code, sr, _ := e.submit(tok, req); code != http.StatusOK || !sr.Duplicate {
				t.Errorf("repeat: %d %+v, want 200 duplicate", code, sr)
			}
			req.SelfieExtra = [][]byte{gatewaytest.PNG(gatewaytest.Grey)}
			if code, _, ae := e.submit(tok, req); code != http.StatusConflict || ae.Code != api.CodeIdempotencyConflict {
				t.Errorf("same key, other extras: %d %+v, want 409 %s", code, ae, api.CodeIdempotencyConflict)
			}
		})
	}
}

// noFaceColor names an image the fake analyzer finds no face in.
var (
	noFaceColor = color.RGBA{10, 10, 10, 255}
	noFacePNG   = gatewaytest.PNG(noFaceColor)
)

// bigPNG is a uniform w×h PNG (a few hundred bytes).
func bigPNG(w, h int) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func TestSelfieExtraRefusals(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.Limits.MaxSelfieBytes = 4096; c.Inference.MaxPixels = 10_000 })
	tok, _ := e.initiate("alice")
	with := func(extras ...[]byte) api.SubmissionRequest {
		r := selfie(gatewaytest.Red, "")
		r.SelfieExtra = extras
		return r
	}
	red := gatewaytest.PNG(gatewaytest.Red)
	tests := []struct {
		name     string
		body     api.SubmissionRequest
		wantCode int
		wantErr  string
	}{
		{"too many extras", with(red, red, red), 400, api.CodeBadRequest},
		{"empty extra", with(red, nil), 400, api.CodeBadRequest},
		{"extra over the byte limit", with(bytes.Repeat([]byte{0xff}, 5000)), 413, api.CodePayloadTooLarge},
		{"extra over the pixel limit", with(bigPNG(200, 200)), 413, api.CodePayloadTooLarge},
		{"extra not an image", with([]byte("GIF89a not really")), 400, api.CodeInvalidImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ae := e.do("POST", api.PathSubmissions, tok, tt.body, nil, nil)
			if code != tt.wantCode || ae.Code != tt.wantErr {
				t.Fatalf("got %d %+v, want %d %q", code, ae, tt.wantCode, tt.wantErr)
			}
			if !bytes.Contains([]byte(ae.Message), []byte("selfie_extra")) {
				t.Errorf("message %q does not name selfie_extra", ae.Message)
			}
		})
	}
	if st := e.status(tok); st.AttemptsLeft != 3 {
		t.Errorf("refused submissions consumed attempts: %+v", st)
	}
}

// TestOpenAPISelfieExtra: the document bounds selfie_extra as the gateway
// does.
func TestOpenAPISelfieExtra(t *testing.T) {
	s := contract.Doc().Components.Schemas["SubmissionRequest"]
	if s == nil || s.Value.Properties["selfie_extra"] == nil {
		t.Fatal("SubmissionRequest.selfie_extra is not in the document")
	}
	p := s.Value.Properties["selfie_extra"].Value
	if p.MaxItems == nil || *p.MaxItems != api.MaxSelfieExtra {
		t.Errorf("selfie_extra maxItems %v, want %d", p.MaxItems, api.MaxSelfieExtra)
	}
}
