package gateway_test

import (
	"fmt"
	"image"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/inferencetest"
)

// TestJPEGScanBombs: a progressive JPEG of more than
// inference.MaxJPEGScans scans (each one more pass of the decoder over
// every block) is refused before decoding: as a selfie 413
// payload_too_large costing no attempt, as a reference
// REFERENCE_UNAVAILABLE saying it is too large.
func TestJPEGScanBombs(t *testing.T) {
	var decodes atomic.Int64
	e := newEnvDeps(t, func(d *gateway.Deps) {
		d.Decode = func(r io.Reader, maxPixels int) (image.Image, error) {
			decodes.Add(1)
			return inference.Decode(r, maxPixels)
		}
	})
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	bomb := inferencetest.JPEGScanBomb(512, 512, 10*inference.MaxJPEGScans)
	want := fmt.Sprintf("512x512 jpeg has more than %d scans", inference.MaxJPEGScans)

	tok, _ := e.initiate("alice")
	req := selfie(gatewaytest.Red, "")
	req.Selfie = bomb
	if code, _, ae := e.submit(tok, req); code != http.StatusRequestEntityTooLarge || ae.Code != api.CodePayloadTooLarge || !strings.Contains(ae.Message, want) {
		t.Errorf("selfie: %d %+v, want 413 %s saying %q", code, ae, api.CodePayloadTooLarge, want)
	}
	if st := e.status(tok); st.AttemptsLeft != 3 {
		t.Errorf("the refused selfie consumed an attempt: %+v", st)
	}
	if n := decodes.Load(); n != 0 {
		t.Errorf("%d decodes ran for the refused selfie", n)
	}

	e.partner.serveImage(bomb)
	tok, cid := e.initiate("bob")
	if code, _, ae := e.submit(tok, selfie(gatewaytest.Red, "k")); code != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", code, ae)
	}
	if st := e.waitStatus(tok); st.Status != api.StatusRejected || st.Reason != api.ReasonReferenceUnavailable {
		t.Fatalf("status %+v, want REJECTED REFERENCE_UNAVAILABLE", st)
	}
	if d := e.details(cid); !strings.Contains(d.Detail, "reference image too large: "+want) {
		t.Errorf("detail %q, want it to say %q", d.Detail, "reference image too large: "+want)
	}
}
