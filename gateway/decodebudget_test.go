package gateway_test

import (
	"bytes"
	"encoding/json"
	"image"
	"io"
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

// TestSelfieDecodeLimits: a selfie over limits.max_selfie_pixels, or
// whose decode (estimated from its header) needs more than the whole
// limits.decode_memory, is refused 413 before decoding and costs no
// attempt.
func TestSelfieDecodeLimits(t *testing.T) {
	var decodes atomic.Int64
	e := newEnvDeps(t, func(d *gateway.Deps) {
		d.Decode = func(r io.Reader, maxPixels int) (image.Image, error) {
			decodes.Add(1)
			return inference.Decode(r, maxPixels)
		}
	}, func(c *gateway.Config) {
		c.Limits.MaxSelfiePixels = 1500 * 1500
		c.Limits.DecodeMemory = 16 << 20
	})
	tok, _ := e.initiate("alice")
	for _, tt := range []struct {
		name string
		img  []byte
		want string
	}{
		{"over the selfie pixel limit", gatewaytest.PNGBomb(2000, 1200, 8), "2000x1200 pixels, limit 2250000"},
		{"over the decode budget", gatewaytest.PNGBomb(1400, 1400, 16), "needs 23 MiB to decode, more than limits.decode_memory (16 MiB)"},
	} {
		req := selfie(gatewaytest.Red, "")
		req.Selfie = tt.img
		code, _, ae := e.submit(tok, req)
		if code != http.StatusRequestEntityTooLarge || ae.Code != api.CodePayloadTooLarge || !strings.Contains(ae.Message, tt.want) {
			t.Errorf("%s: %d %+v, want 413 %s saying %q", tt.name, code, ae, api.CodePayloadTooLarge, tt.want)
		}
	}
	if n := decodes.Load(); n != 0 {
		t.Errorf("%d decodes ran for refused selfies", n)
	}
	if st := e.status(tok); st.AttemptsLeft != 3 {
		t.Errorf("refused selfies consumed attempts: %+v", st)
	}
}

// TestSelfieDecodeBudgetBusy: while one upload's decode holds most of the
// budget, another that does not fit waits limits.decode_wait, then gets
// 503 server_busy with Retry-After; the first completes normally.
func TestSelfieDecodeBudgetBusy(t *testing.T) {
	entered := make(chan struct{})
	unblock := make(chan struct{})
	var calls atomic.Int64
	e := newEnvDeps(t, func(d *gateway.Deps) {
		d.Decode = func(r io.Reader, maxPixels int) (image.Image, error) {
			if calls.Add(1) == 1 {
				close(entered)
				<-unblock
			}
			return inference.Decode(r, maxPixels)
		}
	}, func(c *gateway.Config) {
		c.Limits.DecodeMemory = 16 << 20 // a 1200² 8-bit RGBA PNG needs 11 MiB: one at a time
		c.Limits.DecodeWait = 50 * time.Millisecond
	})
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	tok1, _ := e.initiate("alice")
	tok2, _ := e.initiate("bob")
	img := gatewaytest.PNGBomb(1200, 1200, 8)
	first := make(chan int, 1)
	go func() {
		req := selfie(gatewaytest.Red, "a")
		req.Selfie = img
		code, _, _ := e.submit(tok1, req)
		first <- code
	}()
	<-entered // the first decode holds its 11 MiB
	req := selfie(gatewaytest.Red, "b")
	req.Selfie = img
	resp := e.rawSubmit(tok2, req)
	if resp.code != http.StatusServiceUnavailable || resp.err.Code != api.CodeServerBusy || resp.retryAfter != "1" {
		t.Errorf("second upload: %d %+v Retry-After %q, want 503 %s with Retry-After 1", resp.code, resp.err, resp.retryAfter, api.CodeServerBusy)
	}
	close(unblock)
	if code := <-first; code != http.StatusAccepted {
		t.Errorf("first upload: %d, want 202", code)
	}
	if st := e.status(tok2); st.AttemptsLeft != 3 {
		t.Errorf("the 503 consumed an attempt: %+v", st)
	}
}

// TestReferenceOverDecodeBudget: a reference image whose decode needs more
// than limits.decode_memory ends the flow REFERENCE_UNAVAILABLE with a
// detail saying so, without decoding it.
func TestReferenceOverDecodeBudget(t *testing.T) {
	e := newEnvDeps(t, nil, func(c *gateway.Config) { c.Limits.DecodeMemory = 16 << 20 })
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNGBomb(2000, 2000, 16))
	tok, cid := e.initiate("alice")
	if code, _, ae := e.submit(tok, selfie(gatewaytest.Red, "k")); code != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", code, ae)
	}
	st := e.waitStatus(tok)
	if st.Status != api.StatusRejected || st.Reason != api.ReasonReferenceUnavailable {
		t.Fatalf("status %+v, want REJECTED REFERENCE_UNAVAILABLE", st)
	}
	want := "reference image too large: 2000x2000 png needs 46 MiB to decode, more than limits.decode_memory (16 MiB)"
	if d := e.details(cid); d.Detail != want {
		t.Errorf("detail %q, want %q", d.Detail, want)
	}
	if n := len(e.analyzer.Calls()); n != 1 {
		t.Errorf("%d analyses, want 1 (the selfie; the oversized reference is not decoded)", n)
	}
}

type rawAnswer struct {
	code       int
	err        api.Error
	retryAfter string
}

// rawSubmit is submit keeping the Retry-After header.
func (e *env) rawSubmit(tok string, req api.SubmissionRequest) rawAnswer {
	e.t.Helper()
	body, _ := json.Marshal(req)
	hr, _ := http.NewRequest(http.MethodPost, e.url+api.PathSubmissions, bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	a := rawAnswer{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	json.NewDecoder(resp.Body).Decode(&a.err)
	return a
}
