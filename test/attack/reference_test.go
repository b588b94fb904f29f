package attack

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/faceverify/faceverify/gateway/api"
)

// TestReferenceAnswersNotFollowed: a partner's reference API (compromised,
// or answering for an attacker-chosen user id) cannot point the gateway at
// another address. A redirect — to the cloud metadata IP or to a loopback
// service — is not followed, and an image_url to a host that is neither
// reference_url's nor in image_hosts is not fetched: the flow ends
// REJECTED REFERENCE_UNAVAILABLE after exactly one attempt, the internal
// service is never contacted, and the same partner's next flow, with an
// honest answer, is VERIFIED.
//
// A private stack: each row needs a live selfie that reaches the
// reference fetch, and the pool of those is per stack.
func TestReferenceAnswersNotFollowed(t *testing.T) {
	s := Start(t, nil)
	canary := NewCanary(t)
	redirect := func(to string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusFound) }
	}
	imageURL := func(to string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(api.ReferenceResponse{ImageURL: to})
		}
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"redirect to the metadata IP", redirect("http://169.254.169.254/latest/meta-data/iam/security-credentials/")},
		{"redirect to a loopback service", redirect(canary.URL + "/reference.jpg")},
		{"image_url to a host not allowed", imageURL(canary.URL + "/reference.jpg")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Fake.SetReference(t, tc.handler)
			user, selfie := s.Genuine(t)
			hits := s.Fake.ReferenceHits() // the reference is fetched from initiation on
			f := s.InitiateFlowAs(t, PartnerB, user, NewCorrelation("ssrf"))
			if r := s.SignedSubmit(t, s.Device, f, selfie); r.Code != http.StatusAccepted {
				t.Fatalf("submit: %s", r)
			}
			d := s.WaitFinal(t, f)
			if d.Status != api.StatusRejected || d.Reason != api.ReasonReferenceUnavailable {
				t.Errorf("decision %s/%s, want %s/%s", d.Status, d.Reason, api.StatusRejected, api.ReasonReferenceUnavailable)
			}
			if len(d.Attempts) != 1 || s.FlowSubmissions(t, PartnerB, f.CorrelationID) != 1 {
				t.Errorf("%d attempts (%d stored), want 1", len(d.Attempts), s.FlowSubmissions(t, PartnerB, f.CorrelationID))
			}
			if s.Fake.ReferenceHits() == hits {
				t.Error("the reference API was not called: the row tested nothing")
			}
			if n := canary.Hits(); n != 0 {
				t.Errorf("the loopback service was contacted %d times", n)
			}
		})
	}
	// The honest answer (the Fake's default) still works.
	user, selfie := s.Genuine(t)
	f := s.InitiateFlowAs(t, PartnerB, user, NewCorrelation("ssrf-after"))
	if r := s.SignedSubmit(t, s.Device, f, selfie); r.Code != http.StatusAccepted {
		t.Fatalf("submit: %s", r)
	}
	if d := s.WaitFinal(t, f); d.Status != api.StatusVerified {
		t.Errorf("honest reference afterwards: %s/%s, want VERIFIED", d.Status, d.Reason)
	}
	if n := canary.Hits(); n != 0 {
		t.Errorf("the loopback service was contacted %d times", n)
	}
}
