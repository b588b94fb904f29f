package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

// testSubmissionDetail: a result's Detail is stored with it and read back
// by Submissions; a submission not yet processed has none.
func testSubmissionDetail(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	f := Flow(t, s, "f1")
	if _, _, err := s.CreateSubmission(ctx, Sub(f.ID, "s1", "k1"), 3); err != nil {
		t.Fatal(err)
	}
	if subs, _ := s.Submissions(ctx, f.ID); len(subs) != 1 || subs[0].Detail != "" {
		t.Fatalf("unprocessed submission: %+v", subs)
	}
	if _, err := s.ClaimSubmission(ctx, "w", T0, T0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	const detail = `address refused by rule link-local: host "169.254.169.254" resolves to a link-local address`
	err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: "s1", Owner: "w", Status: api.StatusRejected,
		Reason: api.ReasonReferenceUnavailable, Detail: detail, ProcessedAt: T0.Add(time.Second),
		Final: true, FlowStatus: api.StatusRejected, FlowReason: api.ReasonReferenceUnavailable})
	if err != nil {
		t.Fatal(err)
	}
	subs, err := s.Submissions(ctx, f.ID)
	if err != nil || len(subs) != 1 || subs[0].Detail != detail || subs[0].Reason != api.ReasonReferenceUnavailable {
		t.Fatalf("Submissions after completion = %+v, %v; want detail %q", subs, err, detail)
	}
}
