package gateway_test

import (
	"image"
	"io"
	"sync/atomic"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/inference"
)

// TestSelfieDecodedOnce: a verification decodes its selfie once (at upload,
// the worker reuses the image) and its reference once.
func TestSelfieDecodedOnce(t *testing.T) {
	p := newFakePartner(t)
	e := &env{t: t, analyzer: gatewaytest.NewAnalyzer(), partner: p, clock: &clock{}}
	e.cfg = testConfig(t, p)
	e.dbPath = e.cfg.Database.Path
	var decodes atomic.Int64
	e.deps = func(d *gateway.Deps) {
		d.Decode = func(r io.Reader, maxPixels int) (image.Image, error) {
			decodes.Add(1)
			return inference.Decode(r, maxPixels)
		}
	}
	e.start()
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	tok, _ := e.initiate("alice")
	e.waitKept(1)
	if n := decodes.Load(); n != 1 {
		t.Fatalf("%d decodes for the reference, want 1", n)
	}
	e.submit(tok, selfie(gatewaytest.Red, "k1"))
	if st := e.waitStatus(tok); st.Status != api.StatusVerified {
		t.Fatalf("status %+v", st)
	}
	if n := decodes.Load(); n != 2 {
		t.Errorf("%d decodes for a verification, want 2 (selfie once, reference once)", n)
	}
}
