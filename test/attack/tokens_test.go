package attack

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
)

// flipBit returns token with one bit of its decoded bytes flipped
// (bit i of 256), re-encoded as the gateway issues tokens.
func flipBit(t testing.TB, token string, i int) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatalf("token is not base64url: %v", err)
	}
	b[i/8%len(b)] ^= 1 << (i % 8)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestForeignTokens: a token only opens what it was issued for. Partner
// B's token cannot read partner A's flow (404, nothing of it in the
// answer), a correlation id is per partner (B reusing A's makes B's own
// flow), and a token of one kind is refused where the other is required.
func TestForeignTokens(t *testing.T) {
	s := Shared(t)
	user := "person_a"
	f := s.InitiateFlow(t, user, NewCorrelation("foreign"))
	partnerA := s.PartnerToken(t, PartnerA)

	t.Run("partner B reads A's details", func(t *testing.T) {
		r, _ := s.Details(t, PartnerB, f.CorrelationID)
		if r.Code != http.StatusNotFound || r.APIError().Code != api.CodeNotFound {
			t.Errorf("got %s, want 404 %s", r, api.CodeNotFound)
		}
		if bytes.Contains(r.Body, []byte(user)) || bytes.Contains(r.Body, []byte(api.StatusPending)) {
			t.Errorf("the refusal leaks the flow: %s", r)
		}
	})
	t.Run("partner B reuses A's correlation id", func(t *testing.T) {
		fb := s.InitiateFlowAs(t, PartnerB, "person_b", f.CorrelationID)
		if fb.UserToken == f.UserToken {
			t.Fatal("B got A's user token")
		}
		r, d := s.Details(t, PartnerA, f.CorrelationID)
		if r.Code != http.StatusOK || d.PartnerUserID != user {
			t.Errorf("A's flow after B's initiate: %s (user %q), want A's user", r, d.PartnerUserID)
		}
		if n := s.Count(t, "flows WHERE correlation_id = ?", f.CorrelationID); n != 2 {
			t.Errorf("%d flows with the correlation id, want 2 (one per partner)", n)
		}
	})
	for _, tc := range []struct {
		name         string
		method, path string
		token        string
		body         any
	}{
		{"user token reads details", http.MethodGet, "/v1/submissions/" + f.CorrelationID, f.UserToken, nil},
		{"user token initiates a flow", http.MethodPost, api.PathFlows, f.UserToken,
			api.InitiateRequest{PartnerUserID: "x", PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: NewCorrelation("foreign")}},
		{"partner token reads status", http.MethodGet, api.PathStatus, partnerA, nil},
		{"partner token submits", http.MethodPost, api.PathSubmissions, partnerA, Submission(s.Device, FillerSelfie(t))},
		{"enrollment token reads status", http.MethodGet, api.PathStatus, s.EnrollToken, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r *Response
			if tc.body != nil {
				r = s.PostJSON(t, tc.path, tc.token, tc.body)
			} else {
				r = s.Do(t, tc.method, tc.path, tc.token, nil, nil)
			}
			if r.Code != http.StatusUnauthorized || r.APIError().Code != api.CodeInvalidToken {
				t.Errorf("got %s, want 401 %s", r, api.CodeInvalidToken)
			}
		})
	}
	s.AssertUntouched(t, f)
	s.AssertStillWorks(t, s.Device, f)
}

// TestFlippedTokens: one flipped bit anywhere in a token makes it
// unknown (401) for every call, and the genuine token is unharmed.
func TestFlippedTokens(t *testing.T) {
	s := Shared(t)
	f := s.InitiateFlow(t, "person_a", NewCorrelation("flip"))
	partner := s.PartnerToken(t, PartnerA)
	flows := s.Count(t, "flows")
	for _, bit := range []int{0, 7, 128, 255} {
		user := flipBit(t, f.UserToken, bit)
		if r, _ := s.Status(t, user); r.Code != http.StatusUnauthorized || r.APIError().Code != api.CodeInvalidToken {
			t.Errorf("status, bit %d flipped: %s, want 401", bit, r)
		}
		body := mustJSON(t, Submission(s.Device, FillerSelfie(t)))
		if r := s.Do(t, http.MethodPost, api.PathSubmissions, user, s.SignedHeader(s.Device, f, body), body); r.Code != http.StatusUnauthorized {
			t.Errorf("submit, bit %d flipped: %s, want 401", bit, r)
		}
		p := flipBit(t, partner, bit)
		if r, _ := s.DetailsWith(t, p, f.CorrelationID); r.Code != http.StatusUnauthorized {
			t.Errorf("details, bit %d flipped: %s, want 401", bit, r)
		}
		r := s.PostJSON(t, api.PathFlows, p, api.InitiateRequest{PartnerUserID: "x", PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: NewCorrelation("flip")})
		if r.Code != http.StatusUnauthorized {
			t.Errorf("initiate, bit %d flipped: %s, want 401", bit, r)
		}
	}
	if n := s.Count(t, "flows"); n != flows {
		t.Errorf("flows: %d after the attacks, %d before", n, flows)
	}
	if r, _ := s.Details(t, PartnerA, f.CorrelationID); r.Code != http.StatusOK {
		t.Errorf("the genuine partner token afterwards: %s", r)
	}
	s.AssertUntouched(t, f)
	s.AssertStillWorks(t, s.Device, f)
}

// TestExpiredTokens: a user or partner token is refused (401) from its
// expiry on, for every call, and an expired user token stores nothing.
// The gateway has no test clock and refuses lifetimes under a minute, so
// the row moves the stored expiry two seconds ahead and waits for the
// refusal.
func TestExpiredTokens(t *testing.T) {
	s := Shared(t)
	f := s.InitiateFlow(t, "person_a", NewCorrelation("expired"))
	if r, _ := s.Status(t, f.UserToken); r.Code != http.StatusOK {
		t.Fatalf("status before expiry: %s", r)
	}
	var tr api.TokenResponse // a partner token of its own: the cached one stays valid
	decode(t, s.PostJSON(t, api.PathToken, "", api.TokenRequest{ClientID: PartnerA, Passkey: s.Passkeys[PartnerA]}), &tr)

	at := time.Now().Add(2 * time.Second)
	s.ExpireToken(t, f.UserToken, at)
	s.ExpireToken(t, tr.PartnerToken, at)
	Eventually(t, time.Minute, "the user token's expiry", func() bool {
		r, _ := s.Status(t, f.UserToken)
		if r.Code == http.StatusUnauthorized && time.Now().Before(at) {
			t.Fatalf("user token refused before its expiry: %s", r)
		}
		return r.Code == http.StatusUnauthorized
	})
	Eventually(t, time.Minute, "the partner token's expiry", func() bool {
		r, _ := s.DetailsWith(t, tr.PartnerToken, f.CorrelationID)
		return r.Code == http.StatusUnauthorized
	})

	body := mustJSON(t, Submission(s.Device, FillerSelfie(t)))
	if r := s.Do(t, http.MethodPost, api.PathSubmissions, f.UserToken, s.SignedHeader(s.Device, f, body), body); r.Code != http.StatusUnauthorized || r.APIError().Code != api.CodeInvalidToken {
		t.Errorf("submit with the expired user token: %s, want 401 %s", r, api.CodeInvalidToken)
	}
	r := s.PostJSON(t, api.PathFlows, tr.PartnerToken, api.InitiateRequest{PartnerUserID: "x", PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: NewCorrelation("expired")})
	if r.Code != http.StatusUnauthorized {
		t.Errorf("initiate with the expired partner token: %s, want 401", r)
	}
	r, d := s.Details(t, PartnerA, f.CorrelationID)
	if r.Code != http.StatusOK || len(d.Attempts) != 0 || s.FlowSubmissions(t, PartnerA, f.CorrelationID) != 0 {
		t.Errorf("after the expired submission: %s, %d attempts; want none", r, len(d.Attempts))
	}
}
