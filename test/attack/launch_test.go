package attack

import (
	"net/http"
	"testing"
	"time"
)

// TestExpiredLaunchRefused: the real kiosk agent refuses a launch whose
// expires_at has already passed (a stale or replayed launch from the
// kiosk app or an MQTT command) with 400 bad_request naming expires_at,
// before any session starts: no session, the gateway's flow untouched.
// A launch without expires_at is still accepted.
func TestExpiredLaunchRefused(t *testing.T) {
	s := Shared(t)
	ag := s.StartAgent(t)
	f := s.InitiateFlow(t, "person_a", NewCorrelation("expired-launch"))
	past := time.Now().Add(-time.Minute).UTC()
	launch := func(expires string) string {
		return `{"token":"` + f.UserToken + `","correlation_id":"` + f.CorrelationID + `","base_url":"` + s.URL + `"` + expires + `}`
	}
	for _, tc := range []struct{ name, body string }{
		{"expires_at a minute ago", launch(`,"expires_at":"` + past.Format(time.RFC3339) + `"`)},
		{"expiresAt a day ago, another zone", launch(`,"expiresAt":"` + past.Add(-24*time.Hour).In(time.FixedZone("WIB", 7*3600)).Format(time.RFC3339) + `"`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ag.Do(t, http.MethodPost, "/v1/verify", tc.body)
			if e := r.AgentError(); r.Code != http.StatusBadRequest || e.Code != "bad_request" || e.Field != "expires_at" {
				t.Errorf("launch: %s, want 400 bad_request naming expires_at", r)
			}
		})
	}
	if r := ag.Do(t, http.MethodGet, "/v1/session", ""); r.Code != http.StatusNotFound || r.AgentError().Code != "no_session" {
		t.Errorf("session after the refusals: %s, want 404 no_session", r)
	}
	s.AssertUntouched(t, f)
	s.AssertStillWorks(t, s.Device, f)

	// Without expires_at the agent still starts a session.
	g := s.InitiateFlow(t, "person_a", NewCorrelation("expired-launch-after"))
	body := `{"token":"` + g.UserToken + `","correlation_id":"` + g.CorrelationID + `","base_url":"` + s.URL + `"}`
	if r := ag.Do(t, http.MethodPost, "/v1/verify", body); r.Code != http.StatusAccepted {
		t.Fatalf("launch without expires_at: %s, want 202", r)
	}
	if r := ag.Do(t, http.MethodPost, "/v1/cancel", "{}"); r.Code != http.StatusOK {
		t.Errorf("cancel: %s, want 200", r)
	}
}
