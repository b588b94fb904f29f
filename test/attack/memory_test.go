package attack

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
)

// maxGatewayHWM is the peak RSS the gateway may reach under the rows of
// TestConcurrentDecodeBombs.
const maxGatewayHWM = 600 << 20

// TestConcurrentDecodeBombs: eight concurrent 6320×6320 16-bit RGBA PNG
// selfies (~310 KB each, 320 MB decoded, under the 40-Mpixel reference
// limit; before the decode budget one took the gateway from 83 MB to
// 703 MB, eight to ~7 GB) each get a clear refusal (413, 400 or 503 with
// a code; no 500, no hang) and cost no attempt; the same image served as
// a reference ends the flow REFERENCE_UNAVAILABLE saying it is too large;
// and the gateway's peak RSS stays under 600 MB. Run with the default
// limits (the selfie pixel limit refuses the uploads from their header)
// and with the selfie limit raised to 40 Mpixels, where the header's
// decode estimate and the decode budget must hold; that run also fills
// the budget with eight 4096×4096 8-bit PNGs (134 MB to decode each, two
// fit the 256 MiB budget at once): each is accepted, or answered 503
// server_busy with Retry-After.
func TestConcurrentDecodeBombs(t *testing.T) {
	bomb := gatewaytest.PNGBomb(6320, 6320, 16)
	for _, tc := range []struct {
		name string
		edit func(*gateway.Config)
		fill bool
	}{
		{"default limits", func(c *gateway.Config) { c.Limits.MaxSelfiePixels = gateway.DefaultMaxSelfiePixels }, false},
		{"selfie limit at 40 Mpixels", func(c *gateway.Config) { c.Limits.MaxSelfiePixels = 40_000_000 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(t, tc.edit)
			t.Logf("gateway VmHWM after start: %d MiB", s.VmHWM(t)>>20)
			flows, answers := s.submitAll(t, bomb, "rss-bomb")
			for i, r := range answers {
				switch {
				case r.Code != http.StatusRequestEntityTooLarge && r.Code != http.StatusBadRequest && r.Code != http.StatusServiceUnavailable:
					t.Errorf("bomb %d: %s, want 413, 400 or 503", i, r)
				case r.APIError().Code == "":
					t.Errorf("bomb %d: %s without an error code", i, r)
				}
				s.AssertUntouched(t, flows[i])
			}
			t.Logf("bomb answer: %s; VmHWM after eight: %d MiB", answers[0], s.VmHWM(t)>>20)
			if tc.fill {
				big := gatewaytest.PNGBomb(4096, 4096, 8)
				flows, answers := s.submitAll(t, big, "rss-fill")
				accepted := 0
				for i, r := range answers {
					switch {
					case r.Code == http.StatusAccepted:
						accepted++
						s.WaitAttempt(t, flows[i]) // the worker decodes it again
					case r.Code == http.StatusServiceUnavailable && r.APIError().Code == api.CodeServerBusy && r.Header.Get("Retry-After") != "":
						s.AssertUntouched(t, flows[i])
					default:
						t.Errorf("4096² upload %d: %s (Retry-After %q), want 202, or 503 %s with Retry-After", i, r, r.Header.Get("Retry-After"), api.CodeServerBusy)
					}
				}
				t.Logf("4096² uploads: %d of 8 accepted; VmHWM %d MiB", accepted, s.VmHWM(t)>>20)
				if accepted == 0 {
					t.Errorf("no 4096² upload accepted: the budget admits two at once")
				}
			}
			s.Fake.SetReference(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "image/png")
				w.Write(bomb)
			})
			user, selfie := s.Genuine(t)
			f := s.InitiateFlowAs(t, PartnerB, user, NewCorrelation("rss-reference"))
			if r := s.SignedSubmit(t, s.Device, f, selfie); r.Code != http.StatusAccepted {
				t.Fatalf("genuine selfie: %s", r)
			}
			d := s.WaitFinal(t, f)
			if d.Status != api.StatusRejected || d.Reason != api.ReasonReferenceUnavailable || !strings.Contains(d.Detail, "reference image too large") {
				t.Errorf("bomb reference: %s/%s detail %q, want %s/%s saying it is too large", d.Status, d.Reason, d.Detail, api.StatusRejected, api.ReasonReferenceUnavailable)
			}
			peak := s.VmHWM(t)
			t.Logf("gateway peak RSS %d MiB (limit %d MiB); reference detail %q", peak>>20, maxGatewayHWM>>20, d.Detail)
			if peak >= maxGatewayHWM {
				t.Errorf("gateway peak RSS %d MiB, want < %d MiB", peak>>20, maxGatewayHWM>>20)
			}
		})
	}
}

// submitAll opens eight flows and submits img, signed, to all of them at
// once; answers are in flow order.
func (s *Stack) submitAll(t *testing.T, img []byte, prefix string) ([]Flow, []*Response) {
	t.Helper()
	flows := make([]Flow, 8)
	for i := range flows {
		flows[i] = s.InitiateFlow(t, "person_a", NewCorrelation(prefix))
	}
	answers := make([]*Response, len(flows))
	var wg sync.WaitGroup
	for i := range flows {
		wg.Go(func() { answers[i] = s.SignedSubmit(t, s.Device, flows[i], img) })
	}
	wg.Wait()
	return flows, answers
}
