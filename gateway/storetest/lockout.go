package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

// lockoutFlow creates a selfie flow id for user at T0.
func lockoutFlow(t *testing.T, s gateway.Store, id string, user gateway.UserKey) {
	t.Helper()
	_, created, err := s.CreateFlow(context.Background(), gateway.Flow{ID: id, PartnerID: user.PartnerID, CorrelationID: "c-" + id,
		PartnerUserID: user.PartnerUserID, PartnerUserIDType: user.PartnerUserIDType, Kind: api.FlowSelfie, CreatedAt: T0})
	if err != nil || !created {
		t.Fatalf("CreateFlow %s: %v %v", id, created, err)
	}
}

// failAttempt adds an attempt to flow and records it decided REJECTED with
// reason at processed (final when final).
func failAttempt(t *testing.T, s gateway.Store, flowID, subID, reason string, processed time.Time, final bool) {
	t.Helper()
	ctx := context.Background()
	sub := Sub(flowID, subID, subID)
	sub.SubmittedAt = processed
	if _, _, err := s.CreateSubmission(ctx, sub, 5); err != nil {
		t.Fatalf("CreateSubmission %s: %v", subID, err)
	}
	c, err := s.ClaimSubmission(ctx, "w-"+subID, processed, processed.Add(time.Minute))
	if err != nil || c.ID != subID {
		t.Fatalf("claim %s: %+v %v", subID, c, err)
	}
	r := gateway.Result{SubmissionID: subID, Owner: c.LeaseOwner, Status: api.StatusRejected, Reason: reason, ProcessedAt: processed}
	if final {
		r.Final, r.FlowStatus, r.FlowReason = true, api.StatusRejected, reason
	}
	if err := s.CompleteSubmission(ctx, r); err != nil {
		t.Fatalf("CompleteSubmission %s: %v", subID, err)
	}
}

// testFailedAttempts: the lockout's count covers every flow of one partner
// user (and no other user, id type or partner), only done attempts with
// the asked reasons, since an inclusive bound, newest first, up to the
// limit; and a second handle (another replica) reads the same.
func testFailedAttempts(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	u := gateway.UserKey{PartnerID: "p", PartnerUserID: "u-1", PartnerUserIDType: "account"}
	reasons := []string{api.ReasonFaceMismatch, api.ReasonLivenessFailed, api.ReasonReferenceReplay, api.ReasonSubmissionReplay}
	at := func(m int) time.Time { return T0.Add(time.Duration(m) * time.Minute) }

	lockoutFlow(t, s, "fa", u)
	failAttempt(t, s, "fa", "fa-1", api.ReasonLivenessFailed, at(1), false)
	failAttempt(t, s, "fa", "fa-2", api.ReasonNoFace, at(2), false) // a quality refusal: not counted
	failAttempt(t, s, "fa", "fa-3", api.ReasonFaceMismatch, at(3), true)
	lockoutFlow(t, s, "fb", u)
	failAttempt(t, s, "fb", "fb-1", api.ReasonReferenceReplay, at(4), true)
	for i, other := range []gateway.UserKey{
		{PartnerID: "p", PartnerUserID: "u-2", PartnerUserIDType: "account"},
		{PartnerID: "p", PartnerUserID: "u-1", PartnerUserIDType: "msisdn"},
		{PartnerID: "p2", PartnerUserID: "u-1", PartnerUserIDType: "account"},
	} {
		id := []string{"fo1", "fo2", "fo3"}[i]
		lockoutFlow(t, s, id, other)
		failAttempt(t, s, id, id+"-1", api.ReasonFaceMismatch, at(5), true)
	}
	lockoutFlow(t, s, "fc", u) // an attempt still pending: not counted
	if _, _, err := s.CreateSubmission(ctx, Sub("fc", "fc-1", "k"), 3); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		reasons []string
		since   time.Time
		limit   int
		want    []time.Time
	}{
		{"all failures", reasons, T0, 10, []time.Time{at(4), at(3), at(1)}},
		{"limit keeps the newest", reasons, T0, 2, []time.Time{at(4), at(3)}},
		{"since is inclusive", reasons, at(3), 10, []time.Time{at(4), at(3)}},
		{"after the last", reasons, at(4).Add(time.Millisecond), 10, nil},
		{"one reason", []string{api.ReasonFaceMismatch}, T0, 10, []time.Time{at(3)}},
		{"no reasons", nil, T0, 10, nil},
	}
	other, _ := db.Open() // a second handle: another replica
	for _, tt := range tests {
		for h, st := range []gateway.Store{s, other} {
			got, err := st.FailedAttempts(ctx, u, tt.reasons, tt.since, tt.limit)
			if err != nil {
				t.Fatalf("%s (handle %d): %v", tt.name, h, err)
			}
			if !slices.EqualFunc(got, tt.want, time.Time.Equal) {
				t.Errorf("%s (handle %d): FailedAttempts = %v, want %v", tt.name, h, got, tt.want)
			}
		}
	}
}
