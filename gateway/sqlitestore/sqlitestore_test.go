package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/sqlitestore"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func open(t *testing.T) (*sqlitestore.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gw.db")
	s, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func flow(t *testing.T, s *sqlitestore.Store, id string) gateway.Flow {
	t.Helper()
	f, created, err := s.CreateFlow(context.Background(), gateway.Flow{ID: id, PartnerID: "p", CorrelationID: "c-" + id,
		PartnerUserID: "u", PartnerUserIDType: "account", Kind: api.FlowSelfie, CreatedAt: t0})
	if err != nil || !created {
		t.Fatalf("CreateFlow: %v %v", created, err)
	}
	return f
}

func sub(flowID, id, key string) gateway.Submission {
	return gateway.Submission{ID: id, FlowID: flowID, IdempotencyKey: key, Fingerprint: []byte(id), DeviceID: "d",
		Selfie: []byte("jpeg-" + id), SubmittedAt: t0}
}

func TestTokens(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	h := [32]byte{1}
	if err := s.PutToken(ctx, gateway.Token{Hash: h, Kind: gateway.TokenUser, PartnerID: "p", FlowID: "f", ExpiresAt: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LookupToken(ctx, h, t0)
	if err != nil || got.Kind != gateway.TokenUser || got.FlowID != "f" || !got.ExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("LookupToken = %+v, %v", got, err)
	}
	if _, err := s.LookupToken(ctx, h, t0.Add(time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("expired token: %v", err)
	}
	if n, err := s.DeleteExpiredTokens(ctx, t0.Add(2*time.Minute)); n != 1 || err != nil {
		t.Errorf("DeleteExpiredTokens = %d, %v", n, err)
	}
}

func TestCreateSubmissionRules(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	f := flow(t, s, "f1")
	a, dup, err := s.CreateSubmission(ctx, sub(f.ID, "s1", "k1"), 2)
	if err != nil || dup || a.Attempt != 1 || a.State != gateway.StatePending {
		t.Fatalf("first: %+v %v %v", a, dup, err)
	}
	if _, _, err := s.CreateSubmission(ctx, sub(f.ID, "s2", "k2"), 2); !errors.Is(err, gateway.ErrInProgress) {
		t.Errorf("while pending: %v", err)
	}
	if b, dup, err := s.CreateSubmission(ctx, sub(f.ID, "s1", "k1"), 2); err != nil || !dup || b.ID != "s1" {
		t.Errorf("same key: %+v %v %v", b, dup, err)
	}
	other := sub(f.ID, "s3", "k1")
	if _, _, err := s.CreateSubmission(ctx, other, 2); !errors.Is(err, gateway.ErrIdempotencyConflict) {
		t.Errorf("same key other selfie: %v", err)
	}
	c, err := s.ClaimSubmission(ctx, "w1", t0, t0.Add(time.Minute))
	if err != nil || string(c.Selfie) != "jpeg-s1" || c.Claims != 1 || c.LeaseOwner != "w1" {
		t.Fatalf("claim: %+v %v", c, err)
	}
	if err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: "s1", Owner: "w1", Status: api.StatusRejected, Reason: api.ReasonNoFace, ProcessedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateSubmission(ctx, sub(f.ID, "s4", "k4"), 2); err != nil {
		t.Fatal(err)
	}
	c, _ = s.ClaimSubmission(ctx, "w1", t0, t0.Add(time.Minute))
	cb := []byte(`{"correlation_id":"c-f1"}`)
	if err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: c.ID, Owner: "w1", Status: api.StatusRejected, Reason: api.ReasonNoFace,
		ProcessedAt: t0, Final: true, FlowStatus: api.StatusRejected, FlowReason: api.ReasonNoFace, Callback: cb}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateSubmission(ctx, sub(f.ID, "s5", "k5"), 2); !errors.Is(err, gateway.ErrAttemptsExhausted) {
		t.Errorf("after max attempts: %v", err)
	}
	if _, _, err := s.CreateSubmission(ctx, sub(f.ID, "s5", "k5"), 5); !errors.Is(err, gateway.ErrFlowFinal) {
		t.Errorf("final flow: %v", err)
	}
	if got, _ := s.FlowByID(ctx, f.ID); got.Status != api.StatusRejected || !got.CompletedAt.Equal(t0) {
		t.Errorf("flow %+v", got)
	}
	subs, err := s.Submissions(ctx, f.ID)
	if err != nil || len(subs) != 2 || subs[0].Selfie != nil || subs[1].State != gateway.StateDone {
		t.Errorf("Submissions = %+v %v", subs, err)
	}
	job, err := s.ClaimCallback(ctx, t0, t0.Add(time.Minute))
	if err != nil || string(job.Body) != string(cb) || job.PartnerID != "p" {
		t.Fatalf("ClaimCallback = %+v %v", job, err)
	}
	if _, err := s.ClaimCallback(ctx, t0, t0.Add(time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("leased callback claimed twice: %v", err)
	}
	if _, err := s.ClaimCallback(ctx, t0.Add(time.Minute), t0.Add(2*time.Minute)); err != nil {
		t.Errorf("callback not due again after its lease: %v", err)
	}
}

func TestCorrelationConflict(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	f := flow(t, s, "f1")
	same, created, err := s.CreateFlow(ctx, gateway.Flow{ID: "f2", PartnerID: "p", CorrelationID: f.CorrelationID, PartnerUserID: "u", PartnerUserIDType: "account", Kind: api.FlowSelfie})
	if err != nil || created || same.ID != "f1" {
		t.Errorf("same user: %+v %v %v", same, created, err)
	}
	if _, _, err := s.CreateFlow(ctx, gateway.Flow{ID: "f3", PartnerID: "p", CorrelationID: f.CorrelationID, PartnerUserID: "other", PartnerUserIDType: "account", Kind: api.FlowSelfie}); !errors.Is(err, gateway.ErrCorrelationConflict) {
		t.Errorf("other user: %v", err)
	}
}

// TestClaimExclusive: concurrent claimers (two connections to one file, as
// two gateway processes would have) never get the same submission.
func TestClaimExclusive(t *testing.T) {
	s1, path := open(t)
	s2, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ctx := context.Background()
	const n = 20
	for i := range n {
		f := flow(t, s1, fmt.Sprintf("f%d", i))
		if _, _, err := s1.CreateSubmission(ctx, sub(f.ID, fmt.Sprintf("s%d", i), ""), 3); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		st := []*sqlitestore.Store{s1, s2}[w%2]
		wg.Go(func() {
			for {
				c, err := st.ClaimSubmission(ctx, fmt.Sprintf("w%d", w), t0, t0.Add(time.Minute))
				if errors.Is(err, gateway.ErrNotFound) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[c.ID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d distinct submissions, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s claimed %d times", id, k)
		}
	}
}

func TestLease(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	f := flow(t, s, "f1")
	s.CreateSubmission(ctx, sub(f.ID, "s1", ""), 3)
	if _, err := s.ClaimSubmission(ctx, "a", t0, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimSubmission(ctx, "b", t0.Add(30*time.Second), t0.Add(2*time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("claimed under a live lease: %v", err)
	}
	c, err := s.ClaimSubmission(ctx, "b", t0.Add(time.Minute), t0.Add(2*time.Minute))
	if err != nil || c.Claims != 2 || string(c.Selfie) != "jpeg-s1" {
		t.Fatalf("reclaim after lease: %+v %v", c, err)
	}
	if err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: "s1", Owner: "a", Status: api.StatusVerified}); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Errorf("complete by the old owner: %v", err)
	}
	if err := s.ReleaseSubmission(ctx, "s1", "b", t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimSubmission(ctx, "c", t0.Add(4*time.Minute), t0.Add(6*time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("released submission due before retryAt: %v", err)
	}
	if _, err := s.ClaimSubmission(ctx, "c", t0.Add(5*time.Minute), t0.Add(6*time.Minute)); err != nil {
		t.Errorf("released submission not due at retryAt: %v", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	s, path := open(t)
	ctx := context.Background()
	flow(t, s, "f1")
	s.Close()
	s2, err := sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.FlowByID(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
}
