package attack

import (
	"net/http"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

// TestRestartLosesNothing: a gateway stopped with SIGTERM (exit status 0,
// asserted by Restart) and started again with an edited config keeps every
// flow, token and attempt — an accepted submission is neither lost nor
// counted again — and applies the new config. It also checks the harness's
// Start, edit and Restart for the rows that use them.
func TestRestartLosesNothing(t *testing.T) {
	s := Start(t, func(c *gateway.Config) { c.Verification.MaxAttempts = 2 })
	f := s.InitiateFlow(t, "person_a", NewCorrelation("restart"))
	if f.MaxAttempts != 2 {
		t.Fatalf("max_attempts %d, want 2 from the edited config", f.MaxAttempts)
	}
	if r := s.SignedSubmit(t, s.Device, f, FillerSelfie(t)); r.Code != http.StatusAccepted {
		t.Fatalf("submit: %s", r)
	}
	// Decided before the restart: a submission still in analysis at
	// SIGTERM is left to its lease (processing.lease) by design.
	before := s.WaitAttempt(t, f)
	pid := s.PID()
	s.Restart(t, func(c *gateway.Config) { c.Verification.MaxAttempts = 4 })
	if s.PID() == pid {
		t.Fatal("Restart kept the same gateway process")
	}
	r, st := s.Status(t, f.UserToken) // the token and the flow survived
	if r.Code != http.StatusOK || st.Status != before.Status || st.Reason != before.Reason {
		t.Fatalf("status after the restart: %s, want %s/%s as before", r, before.Status, before.Reason)
	}
	if st.AttemptsLeft != 3 {
		t.Errorf("attempts_left %d after the restart, want 3 (max 4, one used)", st.AttemptsLeft)
	}
	_, d := s.Details(t, PartnerA, f.CorrelationID)
	if len(d.Attempts) != 1 || s.FlowSubmissions(t, PartnerA, f.CorrelationID) != 1 {
		t.Errorf("%d attempts (%d stored) after the restart, want 1", len(d.Attempts), s.FlowSubmissions(t, PartnerA, f.CorrelationID))
	}
	if g := s.InitiateFlow(t, "person_a", NewCorrelation("restart")); g.MaxAttempts != 4 {
		t.Errorf("new flow after the restart: max_attempts %d, want 4", g.MaxAttempts)
	}
	if st.Status == api.StatusVerified {
		t.Errorf("a face of nobody on file was VERIFIED")
	}
}
