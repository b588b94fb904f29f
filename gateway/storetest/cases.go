package storetest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

func testTokens(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	h := [32]byte{1}
	if err := s.PutToken(ctx, gateway.Token{Hash: h, Kind: gateway.TokenUser, PartnerID: "p", FlowID: "f", ExpiresAt: T0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	h2 := [32]byte{2}
	if err := s.PutToken(ctx, gateway.Token{Hash: h2, Kind: gateway.TokenPartner, PartnerID: "p2", ExpiresAt: T0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LookupToken(ctx, h, T0)
	if err != nil || got.Kind != gateway.TokenUser || got.FlowID != "f" || got.PartnerID != "p" || got.Hash != h || !got.ExpiresAt.Equal(T0.Add(time.Minute)) {
		t.Fatalf("LookupToken = %+v, %v", got, err)
	}
	if got, err := s.LookupToken(ctx, h2, T0); err != nil || got.Kind != gateway.TokenPartner || got.PartnerID != "p2" || got.FlowID != "" {
		t.Errorf("LookupToken(partner) = %+v, %v", got, err)
	}
	if _, err := s.LookupToken(ctx, [32]byte{3}, T0); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("unknown token: %v", err)
	}
	if _, err := s.LookupToken(ctx, h, T0.Add(time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("expired token: %v", err)
	}
	if n, err := s.DeleteExpiredTokens(ctx, T0.Add(2*time.Minute)); n != 1 || err != nil {
		t.Errorf("DeleteExpiredTokens = %d, %v", n, err)
	}
	if _, err := s.LookupToken(ctx, h2, T0.Add(2*time.Minute)); err != nil {
		t.Errorf("unexpired token deleted: %v", err)
	}
	if n, err := s.DeleteExpiredTokens(ctx, T0.Add(2*time.Minute)); n != 0 || err != nil {
		t.Errorf("DeleteExpiredTokens again = %d, %v", n, err)
	}
}

func testCreateSubmissionRules(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	f := Flow(t, s, "f1")
	a, dup, err := s.CreateSubmission(ctx, Sub(f.ID, "s1", "k1"), 2)
	if err != nil || dup || a.Attempt != 1 || a.State != gateway.StatePending || a.Status != api.StatusProcessing || a.Selfie != nil {
		t.Fatalf("first: %+v %v %v", a, dup, err)
	}
	if _, _, err := s.CreateSubmission(ctx, Sub(f.ID, "s2", "k2"), 2); !errors.Is(err, gateway.ErrInProgress) {
		t.Errorf("while pending: %v", err)
	}
	if b, dup, err := s.CreateSubmission(ctx, Sub(f.ID, "s1", "k1"), 2); err != nil || !dup || b.ID != "s1" || b.Attempt != 1 {
		t.Errorf("same key: %+v %v %v", b, dup, err)
	}
	other := Sub(f.ID, "s3", "k1")
	if _, _, err := s.CreateSubmission(ctx, other, 2); !errors.Is(err, gateway.ErrIdempotencyConflict) {
		t.Errorf("same key other selfie: %v", err)
	}
	c, err := s.ClaimSubmission(ctx, "w1", T0, T0.Add(time.Minute))
	if err != nil || string(c.Selfie) != "jpeg-s1" || c.Claims != 1 || c.LeaseOwner != "w1" || c.State != gateway.StateProcessing {
		t.Fatalf("claim: %+v %v", c, err)
	}
	if _, _, err := s.CreateSubmission(ctx, Sub(f.ID, "s2", "k2"), 2); !errors.Is(err, gateway.ErrInProgress) {
		t.Errorf("while processing: %v", err)
	}
	if err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: "s1", Owner: "w1", Status: api.StatusRejected, Reason: api.ReasonNoFace, ProcessedAt: T0}); err != nil {
		t.Fatal(err)
	}
	if b, dup, err := s.CreateSubmission(ctx, Sub(f.ID, "s1", "k1"), 2); err != nil || !dup || b.State != gateway.StateDone ||
		b.Status != api.StatusRejected || b.Reason != api.ReasonNoFace {
		t.Errorf("same key after its decision: %+v %v %v, want the decided row", b, dup, err)
	}
	if got, _ := s.FlowByID(ctx, f.ID); got.Final() {
		t.Errorf("flow final after a non-final result: %+v", got)
	}
	if _, err := s.ClaimCallback(ctx, T0, T0.Add(time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("callback queued by a non-final result: %v", err)
	}
	if b, _, err := s.CreateSubmission(ctx, Sub(f.ID, "s4", "k4"), 2); err != nil || b.Attempt != 2 {
		t.Fatalf("second attempt: %+v %v", b, err)
	}
	c, _ = s.ClaimSubmission(ctx, "w1", T0, T0.Add(time.Minute))
	cb := []byte(`{"correlation_id":"c-f1"}`)
	if err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: c.ID, Owner: "w1", Status: api.StatusRejected, Reason: api.ReasonNoFace,
		ProcessedAt: T0, Final: true, FlowStatus: api.StatusRejected, FlowReason: api.ReasonNoFace, Callback: cb}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateSubmission(ctx, Sub(f.ID, "s5", "k5"), 2); !errors.Is(err, gateway.ErrAttemptsExhausted) {
		t.Errorf("after max attempts: %v", err)
	}
	if _, _, err := s.CreateSubmission(ctx, Sub(f.ID, "s5", "k5"), 5); !errors.Is(err, gateway.ErrFlowFinal) {
		t.Errorf("final flow: %v", err)
	}
	if b, dup, err := s.CreateSubmission(ctx, Sub(f.ID, "s1", "k1"), 2); err != nil || !dup || b.ID != "s1" || b.State != gateway.StateDone {
		t.Errorf("same key after the flow is final: %+v %v %v", b, dup, err)
	}
	if got, _ := s.FlowByID(ctx, f.ID); got.Status != api.StatusRejected || got.Reason != api.ReasonNoFace || !got.CompletedAt.Equal(T0) {
		t.Errorf("flow %+v", got)
	}
	subs, err := s.Submissions(ctx, f.ID)
	if err != nil || len(subs) != 2 || subs[0].Selfie != nil || subs[1].State != gateway.StateDone ||
		subs[0].ID != "s1" || subs[1].ID != "s4" || subs[1].Attempt != 2 {
		t.Errorf("Submissions = %+v %v", subs, err)
	}
	job, err := s.ClaimCallback(ctx, T0, T0.Add(time.Minute))
	if err != nil || string(job.Body) != string(cb) || job.PartnerID != "p" || job.FlowID != f.ID || job.Attempts != 0 || !job.CreatedAt.Equal(T0) {
		t.Fatalf("ClaimCallback = %+v %v", job, err)
	}
	if _, err := s.ClaimCallback(ctx, T0, T0.Add(time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("leased callback claimed twice: %v", err)
	}
	if again, err := s.ClaimCallback(ctx, T0.Add(time.Minute), T0.Add(2*time.Minute)); err != nil || again.ID != job.ID {
		t.Errorf("callback not due again after its lease: %+v %v", again, err)
	}
}

func testCorrelationConflict(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	f := Flow(t, s, "f1")
	same, created, err := s.CreateFlow(ctx, gateway.Flow{ID: "f2", PartnerID: "p", CorrelationID: f.CorrelationID, PartnerUserID: "u", PartnerUserIDType: "account", Kind: api.FlowSelfie})
	if err != nil || created || same.ID != "f1" || !same.CreatedAt.Equal(T0) {
		t.Errorf("same user: %+v %v %v", same, created, err)
	}
	conflicts := []struct {
		name string
		flow gateway.Flow
	}{
		{"other user", gateway.Flow{ID: "f3", PartnerID: "p", CorrelationID: f.CorrelationID, PartnerUserID: "other", PartnerUserIDType: "account", Kind: api.FlowSelfie}},
		{"other id type", gateway.Flow{ID: "f4", PartnerID: "p", CorrelationID: f.CorrelationID, PartnerUserID: "u", PartnerUserIDType: "msisdn", Kind: api.FlowSelfie}},
		{"other kind", gateway.Flow{ID: "f5", PartnerID: "p", CorrelationID: f.CorrelationID, PartnerUserID: "u", PartnerUserIDType: "account", Kind: api.FlowKTP}},
	}
	for _, c := range conflicts {
		if _, _, err := s.CreateFlow(ctx, c.flow); !errors.Is(err, gateway.ErrCorrelationConflict) {
			t.Errorf("%s: %v", c.name, err)
		}
		if _, err := s.FlowByID(ctx, c.flow.ID); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("%s: conflicting flow stored: %v", c.name, err)
		}
	}
	// The correlation id is unique per partner only.
	g, created, err := s.CreateFlow(ctx, gateway.Flow{ID: "g1", PartnerID: "q", CorrelationID: f.CorrelationID, PartnerUserID: "other", PartnerUserIDType: "account", Kind: api.FlowKTP, CreatedAt: T0})
	if err != nil || !created || g.ID != "g1" {
		t.Errorf("other partner, same correlation id: %+v %v %v", g, created, err)
	}
	if got, err := s.FlowByCorrelation(ctx, "q", f.CorrelationID); err != nil || got.ID != "g1" || got.Kind != api.FlowKTP || got.PartnerUserID != "other" {
		t.Errorf("FlowByCorrelation(q) = %+v %v", got, err)
	}
	if got, err := s.FlowByCorrelation(ctx, "p", f.CorrelationID); err != nil || got.ID != "f1" {
		t.Errorf("FlowByCorrelation(p) = %+v %v", got, err)
	}
}

func testNotFound(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	if _, err := s.FlowByID(ctx, "nope"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("FlowByID: %v", err)
	}
	if _, err := s.FlowByCorrelation(ctx, "p", "nope"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("FlowByCorrelation: %v", err)
	}
	for _, key := range []string{"", "k"} {
		if _, _, err := s.CreateSubmission(ctx, Sub("nope", "s1", key), 3); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("CreateSubmission on an unknown flow (key %q): %v", key, err)
		}
	}
	if subs, err := s.Submissions(ctx, "nope"); err != nil || len(subs) != 0 {
		t.Errorf("Submissions = %+v %v", subs, err)
	}
	if _, err := s.ClaimSubmission(ctx, "w", T0, T0.Add(time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("ClaimSubmission on an empty store: %v", err)
	}
	if _, err := s.ClaimCallback(ctx, T0, T0.Add(time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("ClaimCallback on an empty store: %v", err)
	}
	if err := s.ReleaseSubmission(ctx, "nope", "w", T0); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Errorf("ReleaseSubmission of an unknown submission: %v", err)
	}
	if err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: "nope", Owner: "w", Status: api.StatusVerified}); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Errorf("CompleteSubmission of an unknown submission: %v", err)
	}
}

// testConcurrentCreateFlow: initiations racing on one correlation id, from
// two handles, store one flow; everyone gets it back.
func testConcurrentCreateFlow(t *testing.T, db *DB) {
	stores := []gateway.Store{db.Store(), db.Store()}
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	ids := make([]string, n)
	created := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			f, c, err := stores[i%2].CreateFlow(ctx, gateway.Flow{ID: fmt.Sprintf("f%d", i), PartnerID: "p", CorrelationID: "race",
				PartnerUserID: "u", PartnerUserIDType: "account", Kind: api.FlowSelfie, CreatedAt: T0})
			ids[i], created[i], errs[i] = f.ID, c, err
		})
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("CreateFlow %d: %v", i, errs[i])
		}
		if created[i] {
			winners++
		}
		if ids[i] != ids[0] {
			t.Errorf("CreateFlow %d returned flow %s, another returned %s", i, ids[i], ids[0])
		}
	}
	if winners != 1 {
		t.Errorf("%d CreateFlow calls report created, want 1", winners)
	}
}

// testConcurrentCreateSubmission: attempts racing on one flow, from two
// handles: one is accepted, the others see it in progress; the same
// idempotency key racing is stored once.
func testConcurrentCreateSubmission(t *testing.T, db *DB) {
	stores := []gateway.Store{db.Store(), db.Store()}
	ctx := context.Background()
	f := Flow(t, stores[0], "f1")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, _, errs[i] = stores[i%2].CreateSubmission(ctx, Sub(f.ID, fmt.Sprintf("s%d", i), fmt.Sprintf("k%d", i)), 3)
		})
	}
	wg.Wait()
	accepted := 0
	for i, err := range errs {
		switch {
		case err == nil:
			accepted++
		case !errors.Is(err, gateway.ErrInProgress):
			t.Errorf("CreateSubmission %d: %v", i, err)
		}
	}
	if subs, _ := stores[0].Submissions(ctx, f.ID); accepted != 1 || len(subs) != 1 {
		t.Fatalf("accepted %d, stored %d submissions; want 1 and 1", accepted, len(subs))
	}

	g := Flow(t, stores[0], "f2")
	ids := make([]string, n)
	dups := make([]bool, n)
	for i := range n {
		wg.Go(func() {
			s, dup, err := stores[i%2].CreateSubmission(ctx, Sub(g.ID, fmt.Sprintf("t%d", i), "same"), 3)
			if err == nil {
				ids[i], dups[i] = s.ID, dup
			}
			errs[i] = err
		})
	}
	wg.Wait()
	fresh := 0
	for i := range n {
		switch {
		case errors.Is(errs[i], gateway.ErrIdempotencyConflict):
			// Same key, other fingerprint (Sub's fingerprint is its id):
			// refused once the first is stored.
		case errs[i] != nil:
			t.Errorf("CreateSubmission %d with a shared key: %v", i, errs[i])
		case !dups[i]:
			fresh++
		}
	}
	subs, _ := stores[0].Submissions(ctx, g.ID)
	if fresh != 1 || len(subs) != 1 {
		t.Errorf("shared key: %d stored fresh, %d rows; want 1 and 1", fresh, len(subs))
	}

	// Same key and same selfie racing: one row, every caller gets it.
	h := Flow(t, stores[0], "f3")
	for i := range n {
		wg.Go(func() {
			sub := Sub(h.ID, fmt.Sprintf("u%d", i), "same")
			sub.Fingerprint = []byte("one selfie")
			s, dup, err := stores[i%2].CreateSubmission(ctx, sub, 3)
			ids[i], dups[i], errs[i] = s.ID, dup, err
		})
	}
	wg.Wait()
	fresh = 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("CreateSubmission %d, same key and selfie: %v", i, errs[i])
		}
		if !dups[i] {
			fresh++
		}
		if ids[i] != ids[0] {
			t.Errorf("CreateSubmission %d returned %s, another %s", i, ids[i], ids[0])
		}
	}
	if subs, _ := stores[0].Submissions(ctx, h.ID); fresh != 1 || len(subs) != 1 {
		t.Errorf("same key and selfie: %d stored fresh, %d rows; want 1 and 1", fresh, len(subs))
	}
}

func fp(v float64) *float64 { return &v }

// testSubmissionFields: every field of a submission and a result reads
// back as written.
func testSubmissionFields(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	f := Flow(t, s, "f1")
	in := gateway.Submission{ID: "s1", FlowID: f.ID, IdempotencyKey: "k1", Fingerprint: []byte{0, 1, 2, 255},
		DeviceID: "kiosk-7", DeviceLiveness: fp(0.875), DeviceLive: true, DeviceModel: "fr_liveness.onnx",
		CapturedAt: T0.Add(-time.Second), Selfie: []byte{0xff, 0xd8, 0, 1}, SubmittedAt: T0}
	stored, _, err := s.CreateSubmission(ctx, in, 3)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got gateway.Submission) {
		t.Helper()
		if got.ID != "s1" || got.FlowID != f.ID || got.Attempt != 1 || got.IdempotencyKey != "k1" ||
			!bytes.Equal(got.Fingerprint, in.Fingerprint) || got.DeviceID != "kiosk-7" ||
			got.DeviceLiveness == nil || *got.DeviceLiveness != 0.875 || !got.DeviceLive ||
			got.DeviceModel != "fr_liveness.onnx" || !got.CapturedAt.Equal(in.CapturedAt) || !got.SubmittedAt.Equal(T0) {
			t.Errorf("%s: %+v", what, got)
		}
	}
	check("CreateSubmission", stored)
	subs, err := s.Submissions(ctx, f.ID)
	if err != nil || len(subs) != 1 {
		t.Fatalf("Submissions = %+v %v", subs, err)
	}
	check("Submissions", subs[0])
	if subs[0].Similarity != nil || subs[0].Liveness != nil || !subs[0].ProcessedAt.IsZero() || subs[0].Claims != 0 || subs[0].Selfie != nil {
		t.Errorf("unprocessed submission has results: %+v", subs[0])
	}
	c, err := s.ClaimSubmission(ctx, "w", T0, T0.Add(time.Minute))
	if err != nil || !bytes.Equal(c.Selfie, in.Selfie) {
		t.Fatalf("claim: %+v %v", c, err)
	}
	check("ClaimSubmission", c)
	err = s.CompleteSubmission(ctx, gateway.Result{SubmissionID: "s1", Owner: "w", Status: api.StatusVerified,
		Similarity: fp(-0.25), Liveness: fp(0.5), LivenessThreshold: 0.6, MatchThreshold: 0.35, ProcessedAt: T0.Add(time.Second),
		Final: true, FlowStatus: api.StatusVerified})
	if err != nil {
		t.Fatal(err)
	}
	subs, _ = s.Submissions(ctx, f.ID)
	got := subs[0]
	check("done", got)
	if got.State != gateway.StateDone || got.Status != api.StatusVerified || got.Reason != "" ||
		got.Similarity == nil || *got.Similarity != -0.25 || got.Liveness == nil || *got.Liveness != 0.5 ||
		got.LivenessThreshold != 0.6 || got.MatchThreshold != 0.35 || !got.ProcessedAt.Equal(T0.Add(time.Second)) || got.Claims != 1 {
		t.Errorf("done submission: %+v", got)
	}
	if fl, _ := s.FlowByID(ctx, f.ID); fl.Status != api.StatusVerified || fl.Reason != "" || !fl.CompletedAt.Equal(T0.Add(time.Second)) {
		t.Errorf("flow: %+v", fl)
	}
	// No callback body: the flow is closed, nothing is queued.
	if _, err := s.ClaimCallback(ctx, T0.Add(time.Hour), T0.Add(2*time.Hour)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("callback queued without a body: %v", err)
	}
	// Optional fields left empty read back empty.
	g := Flow(t, s, "f2")
	if _, _, err := s.CreateSubmission(ctx, Sub(g.ID, "s2", ""), 3); err != nil {
		t.Fatal(err)
	}
	subs, _ = s.Submissions(ctx, g.ID)
	if len(subs) != 1 || subs[0].IdempotencyKey != "" || subs[0].DeviceLiveness != nil || subs[0].DeviceLive || !subs[0].CapturedAt.IsZero() {
		t.Errorf("empty optional fields: %+v", subs)
	}
}

// testClaimOrder: the oldest due submission is claimed first; a released
// one waits for its retry time.
func testClaimOrder(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	for i, off := range []time.Duration{3 * time.Second, time.Second, 2 * time.Second} {
		f := Flow(t, s, fmt.Sprintf("f%d", i))
		sub := Sub(f.ID, fmt.Sprintf("s%d", i), "")
		sub.SubmittedAt = T0.Add(off)
		if _, _, err := s.CreateSubmission(ctx, sub, 3); err != nil {
			t.Fatal(err)
		}
	}
	now := T0.Add(time.Minute)
	first, err := s.ClaimSubmission(ctx, "a", now, now.Add(time.Minute))
	if err != nil || first.ID != "s1" {
		t.Fatalf("first claim = %s %v, want s1 (oldest)", first.ID, err)
	}
	if err := s.ReleaseSubmission(ctx, "s1", "a", now.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		c, err := s.ClaimSubmission(ctx, "b", now, now.Add(time.Minute))
		if errors.Is(err, gateway.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c.ID)
	}
	if fmt.Sprint(got) != "[s2 s0]" {
		t.Errorf("claims before the retry time = %v, want [s2 s0]", got)
	}
	c, err := s.ClaimSubmission(ctx, "c", now.Add(10*time.Second), now.Add(time.Minute))
	if err != nil || c.ID != "s1" || c.Claims != 2 || c.State != gateway.StateProcessing {
		t.Errorf("claim at the retry time = %+v %v", c, err)
	}
}

// testClaimExclusive: concurrent claimers on two handles of one database
// (as two gateway processes would have) never get the same submission, and
// together get them all.
func testClaimExclusive(t *testing.T, db *DB) {
	s1, s2 := db.Store(), db.Store()
	ctx := context.Background()
	const n = 40
	for i := range n {
		f := Flow(t, s1, fmt.Sprintf("f%d", i))
		if _, _, err := s1.CreateSubmission(ctx, Sub(f.ID, fmt.Sprintf("s%d", i), ""), 3); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		st := []gateway.Store{s1, s2}[w%2]
		wg.Go(func() {
			for {
				c, err := st.ClaimSubmission(ctx, fmt.Sprintf("w%d", w), T0, T0.Add(time.Minute))
				if errors.Is(err, gateway.ErrNotFound) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				if string(c.Selfie) != "jpeg-"+c.ID || c.LeaseOwner != fmt.Sprintf("w%d", w) {
					t.Errorf("claimed %+v", c)
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

func testLease(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	f := Flow(t, s, "f1")
	if _, _, err := s.CreateSubmission(ctx, Sub(f.ID, "s1", ""), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimSubmission(ctx, "a", T0, T0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimSubmission(ctx, "b", T0.Add(30*time.Second), T0.Add(2*time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("claimed under a live lease: %v", err)
	}
	c, err := s.ClaimSubmission(ctx, "b", T0.Add(time.Minute), T0.Add(2*time.Minute))
	if err != nil || c.Claims != 2 || string(c.Selfie) != "jpeg-s1" || c.LeaseOwner != "b" {
		t.Fatalf("reclaim after lease: %+v %v", c, err)
	}
	if err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: "s1", Owner: "a", Status: api.StatusVerified}); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Errorf("complete by the old owner: %v", err)
	}
	if err := s.ReleaseSubmission(ctx, "s1", "a", T0); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Errorf("release by the old owner: %v", err)
	}
	if err := s.ReleaseSubmission(ctx, "s1", "b", T0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseSubmission(ctx, "s1", "b", T0.Add(5*time.Minute)); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Errorf("release twice: %v", err)
	}
	if subs, _ := s.Submissions(ctx, f.ID); len(subs) != 1 || subs[0].State != gateway.StatePending || subs[0].LeaseOwner != "" {
		t.Errorf("released submission: %+v", subs)
	}
	if _, err := s.ClaimSubmission(ctx, "c", T0.Add(4*time.Minute), T0.Add(6*time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("released submission due before retryAt: %v", err)
	}
	c, err = s.ClaimSubmission(ctx, "c", T0.Add(5*time.Minute), T0.Add(6*time.Minute))
	if err != nil || c.Claims != 3 {
		t.Fatalf("released submission not due at retryAt: %+v %v", c, err)
	}
	if err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: "s1", Owner: "c", Status: api.StatusVerified, ProcessedAt: T0.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: "s1", Owner: "c", Status: api.StatusRejected}); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Errorf("complete twice: %v", err)
	}
	if _, err := s.ClaimSubmission(ctx, "d", T0.Add(time.Hour), T0.Add(2*time.Hour)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("done submission claimed again: %v", err)
	}
	if subs, _ := s.Submissions(ctx, f.ID); len(subs) != 1 || subs[0].Status != api.StatusVerified {
		t.Errorf("a lost lease overwrote the result: %+v", subs)
	}
}

// finalFlow makes flow id final with a queued callback carrying body.
func finalFlow(t *testing.T, s gateway.Store, id string, processed time.Time, body string) {
	t.Helper()
	ctx := context.Background()
	f := Flow(t, s, id)
	sub := Sub(f.ID, "s-"+id, "")
	sub.SubmittedAt = processed
	if _, _, err := s.CreateSubmission(ctx, sub, 3); err != nil {
		t.Fatal(err)
	}
	c, err := s.ClaimSubmission(ctx, "w-"+id, processed, processed.Add(time.Minute))
	if err != nil || c.ID != sub.ID {
		t.Fatalf("claim %s: %+v %v", sub.ID, c, err)
	}
	if err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: c.ID, Owner: c.LeaseOwner, Status: api.StatusVerified,
		ProcessedAt: processed, Final: true, FlowStatus: api.StatusVerified, Callback: []byte(body)}); err != nil {
		t.Fatal(err)
	}
}

// testCallbackOutbox: callbacks are due in order, leased while delivered,
// retried at their next time and never again once delivered or given up.
func testCallbackOutbox(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	finalFlow(t, s, "f1", T0, `{"n":1}`)
	finalFlow(t, s, "f2", T0.Add(time.Second), `{"n":2}`)
	finalFlow(t, s, "f3", T0.Add(2*time.Second), `{"n":3}`)
	if _, err := s.ClaimCallback(ctx, T0.Add(-time.Second), T0.Add(time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("callback claimed before it was queued: %v", err)
	}
	now := T0.Add(10 * time.Second)
	j1, err := s.ClaimCallback(ctx, now, now.Add(time.Minute))
	if err != nil || string(j1.Body) != `{"n":1}` || j1.FlowID != "f1" {
		t.Fatalf("first = %+v %v", j1, err)
	}
	j2, err := s.ClaimCallback(ctx, now, now.Add(time.Minute))
	if err != nil || string(j2.Body) != `{"n":2}` {
		t.Fatalf("second = %+v %v", j2, err)
	}
	j3, err := s.ClaimCallback(ctx, now, now.Add(time.Minute))
	if err != nil || string(j3.Body) != `{"n":3}` {
		t.Fatalf("third = %+v %v", j3, err)
	}
	if _, err := s.ClaimCallback(ctx, now, now.Add(time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("all leased, yet claimed: %v", err)
	}
	if err := s.CallbackDelivered(ctx, j1.ID, now); err != nil {
		t.Fatal(err)
	}
	if err := s.CallbackFailed(ctx, j2.ID, now.Add(30*time.Second), "partner answered 500", false); err != nil {
		t.Fatal(err)
	}
	if err := s.CallbackFailed(ctx, j3.ID, now.Add(30*time.Second), "partner answered 500", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimCallback(ctx, now.Add(29*time.Second), now.Add(time.Hour)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("failed callback due before its next time: %v", err)
	}
	again, err := s.ClaimCallback(ctx, now.Add(30*time.Second), now.Add(time.Hour))
	if err != nil || again.ID != j2.ID || again.Attempts != 1 || !again.CreatedAt.Equal(T0.Add(time.Second)) {
		t.Fatalf("retry = %+v %v", again, err)
	}
	if err := s.CallbackFailed(ctx, j2.ID, now.Add(time.Minute), "timeout", false); err != nil {
		t.Fatal(err)
	}
	again, err = s.ClaimCallback(ctx, now.Add(2*time.Minute), now.Add(time.Hour))
	if err != nil || again.ID != j2.ID || again.Attempts != 2 {
		t.Fatalf("second retry = %+v %v", again, err)
	}
	if err := s.CallbackDelivered(ctx, j2.ID, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Delivered and given-up callbacks are never due again, even long after
	// their leases.
	if j, err := s.ClaimCallback(ctx, now.Add(24*time.Hour), now.Add(25*time.Hour)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("claimed %+v (%v) after delivery or give-up", j, err)
	}
}

// testCallbackClaimExclusive: concurrent outbox workers on two handles
// claim each callback once.
func testCallbackClaimExclusive(t *testing.T, db *DB) {
	s1, s2 := db.Store(), db.Store()
	ctx := context.Background()
	const n = 20
	for i := range n {
		finalFlow(t, s1, fmt.Sprintf("f%d", i), T0, fmt.Sprintf(`{"n":%d}`, i))
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 6 {
		st := []gateway.Store{s1, s2}[w%2]
		wg.Go(func() {
			for {
				j, err := st.ClaimCallback(ctx, T0, T0.Add(time.Minute))
				if errors.Is(err, gateway.ErrNotFound) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[j.ID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d distinct callbacks, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("callback %d claimed %d times", id, k)
		}
	}
}

func registry(t *testing.T, s gateway.Store) gateway.DeviceRegistry {
	t.Helper()
	reg, ok := s.(gateway.DeviceRegistry)
	if !ok {
		t.Fatalf("%T does not implement gateway.DeviceRegistry", s)
	}
	return reg
}

func testDevices(t *testing.T, db *DB) {
	reg := registry(t, db.Store())
	ctx := context.Background()
	k1 := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)
	k2 := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32)).Public().(ed25519.PublicKey)
	d, created, err := reg.AddDevice(ctx, gateway.Device{ID: "kiosk-b", PublicKey: k1, Label: "lobby", CreatedAt: T0})
	if err != nil || !created || d.ID != "kiosk-b" || !d.PublicKey.Equal(k1) || d.Label != "lobby" || !d.CreatedAt.Equal(T0) || d.Revoked() {
		t.Fatalf("AddDevice = %+v %v %v", d, created, err)
	}
	if d, created, err := reg.AddDevice(ctx, gateway.Device{ID: "kiosk-b", PublicKey: k1, Label: "other", CreatedAt: T0.Add(time.Hour)}); err != nil || created || d.Label != "lobby" || !d.CreatedAt.Equal(T0) {
		t.Errorf("same key again = %+v %v %v", d, created, err)
	}
	if _, _, err := reg.AddDevice(ctx, gateway.Device{ID: "kiosk-b", PublicKey: k2, CreatedAt: T0}); !errors.Is(err, gateway.ErrDeviceOtherKey) || !errors.Is(err, gateway.ErrDeviceConflict) || errors.Is(err, gateway.ErrDeviceRevoked) {
		t.Errorf("other key: %v, want ErrDeviceOtherKey", err)
	}
	if _, _, err := reg.AddDevice(ctx, gateway.Device{ID: "kiosk-a", PublicKey: k2, CreatedAt: T0}); err != nil {
		t.Fatal(err)
	}
	got, err := reg.DeviceByID(ctx, "kiosk-b")
	if err != nil || !got.PublicKey.Equal(k1) || got.Label != "lobby" || got.Revoked() {
		t.Errorf("DeviceByID = %+v %v", got, err)
	}
	if _, err := reg.DeviceByID(ctx, "nope"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("DeviceByID(unknown): %v", err)
	}
	r, err := reg.RevokeDevice(ctx, "kiosk-b", T0.Add(time.Minute))
	if err != nil || !r.Revoked() || !r.RevokedAt.Equal(T0.Add(time.Minute)) || !r.PublicKey.Equal(k1) {
		t.Fatalf("RevokeDevice = %+v %v", r, err)
	}
	if r, err := reg.RevokeDevice(ctx, "kiosk-b", T0.Add(time.Hour)); err != nil || !r.RevokedAt.Equal(T0.Add(time.Minute)) {
		t.Errorf("revoke again changed the time: %+v %v", r, err)
	}
	if _, err := reg.RevokeDevice(ctx, "nope", T0); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("RevokeDevice(unknown): %v", err)
	}
	if _, _, err := reg.AddDevice(ctx, gateway.Device{ID: "kiosk-b", PublicKey: k1, CreatedAt: T0}); !errors.Is(err, gateway.ErrDeviceRevoked) || !errors.Is(err, gateway.ErrDeviceConflict) || errors.Is(err, gateway.ErrDeviceOtherKey) {
		t.Errorf("re-adding a revoked id: %v, want ErrDeviceRevoked", err)
	}
	devs, err := reg.Devices(ctx)
	if err != nil || len(devs) != 2 || devs[0].ID != "kiosk-a" || devs[1].ID != "kiosk-b" || devs[0].Revoked() || !devs[1].Revoked() {
		t.Errorf("Devices = %+v %v", devs, err)
	}
}

// testReplaceDevice: an operator's key replacement sets the key, lifts a
// revocation and records when, keeping the registration; AddDevice then
// accepts the new key and refuses the old one.
func testReplaceDevice(t *testing.T, db *DB) {
	reg := registry(t, db.Store())
	ctx := context.Background()
	k1 := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)
	k2 := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32)).Public().(ed25519.PublicKey)
	k3 := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)).Public().(ed25519.PublicKey)
	for _, id := range []string{"kiosk-lost", "kiosk-revoked", "kiosk-other"} {
		if _, _, err := reg.AddDevice(ctx, gateway.Device{ID: id, PublicKey: k1, Label: "hall " + id, CreatedAt: T0}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.RevokeDevice(ctx, "kiosk-revoked", T0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.ReplaceDevice(ctx, "nope", k2, T0); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("ReplaceDevice(unknown): %v, want ErrNotFound", err)
	}
	if _, err := reg.DeviceByID(ctx, "nope"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("ReplaceDevice(unknown) created a device: %v", err)
	}
	at := T0.Add(2 * time.Hour)
	for _, tc := range []struct {
		name, id string
		key      ed25519.PublicKey
	}{
		{"lost key", "kiosk-lost", k2},
		{"revoked", "kiosk-revoked", k2},
		{"revoked, same key", "kiosk-revoked", k1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := reg.ReplaceDevice(ctx, tc.id, tc.key, at)
			if err != nil || d.ID != tc.id || !d.PublicKey.Equal(tc.key) || d.Revoked() || !d.ReplacedAt.Equal(at) ||
				!d.CreatedAt.Equal(T0) || d.Label != "hall "+tc.id {
				t.Fatalf("ReplaceDevice = %+v %v", d, err)
			}
			got, err := reg.DeviceByID(ctx, tc.id)
			if err != nil || !got.PublicKey.Equal(tc.key) || got.Revoked() || !got.ReplacedAt.Equal(at) || !got.CreatedAt.Equal(T0) {
				t.Errorf("DeviceByID after replace = %+v %v", got, err)
			}
			if d, created, err := reg.AddDevice(ctx, gateway.Device{ID: tc.id, PublicKey: tc.key, CreatedAt: at.Add(time.Hour)}); err != nil || created || !d.ReplacedAt.Equal(at) {
				t.Errorf("AddDevice(new key) after replace = %+v %v %v, want the stored device", d, created, err)
			}
			if _, _, err := reg.AddDevice(ctx, gateway.Device{ID: tc.id, PublicKey: k3, CreatedAt: at}); !errors.Is(err, gateway.ErrDeviceOtherKey) {
				t.Errorf("AddDevice(other key) after replace: %v, want ErrDeviceOtherKey", err)
			}
		})
	}
	// A device revoked after a replacement keeps ReplacedAt.
	r, err := reg.RevokeDevice(ctx, "kiosk-lost", at.Add(time.Hour))
	if err != nil || !r.Revoked() || !r.ReplacedAt.Equal(at) {
		t.Errorf("RevokeDevice after replace = %+v %v", r, err)
	}
	// Devices that were never replaced report a zero ReplacedAt.
	devs, err := reg.Devices(ctx)
	if err != nil || len(devs) != 3 {
		t.Fatalf("Devices = %+v %v", devs, err)
	}
	for _, d := range devs {
		if want := d.ID != "kiosk-other"; !d.ReplacedAt.IsZero() != want {
			t.Errorf("Devices: %s ReplacedAt = %v", d.ID, d.ReplacedAt)
		}
	}
}

// testTimePrecision: times keep at least millisecond precision.
func testTimePrecision(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	tm := T0.Add(123456 * time.Microsecond)
	if _, _, err := s.CreateFlow(ctx, gateway.Flow{ID: "f1", PartnerID: "p", CorrelationID: "c", PartnerUserID: "u",
		PartnerUserIDType: "account", Kind: api.FlowSelfie, CreatedAt: tm}); err != nil {
		t.Fatal(err)
	}
	f, err := s.FlowByID(ctx, "f1")
	if err != nil || f.CreatedAt.Sub(tm).Abs() >= time.Millisecond || f.CreatedAt.Location() != time.UTC || !f.CompletedAt.IsZero() {
		t.Errorf("CreatedAt %v (%v), want %v in UTC", f.CreatedAt, err, tm)
	}
	h := [32]byte{9}
	if err := s.PutToken(ctx, gateway.Token{Hash: h, Kind: gateway.TokenUser, ExpiresAt: tm}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupToken(ctx, h, tm.Add(-time.Millisecond)); err != nil {
		t.Errorf("token valid 1ms before expiry: %v", err)
	}
	if _, err := s.LookupToken(ctx, h, tm.Add(time.Millisecond)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("token valid 1ms after expiry: %v", err)
	}
	sub := Sub("f1", "s1", "")
	sub.SubmittedAt = tm
	if _, _, err := s.CreateSubmission(ctx, sub, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimSubmission(ctx, "a", tm, tm.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimSubmission(ctx, "b", tm.Add(time.Second-time.Millisecond), tm.Add(time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("claimed 1ms before the lease ends: %v", err)
	}
	if _, err := s.ClaimSubmission(ctx, "b", tm.Add(time.Second), tm.Add(time.Minute)); err != nil {
		t.Errorf("not claimable when the lease ends: %v", err)
	}
}

// testReopenKeepsData: a closed and reopened database has everything.
func testReopenKeepsData(t *testing.T, db *DB) {
	s, closeFn := db.Open()
	ctx := context.Background()
	Flow(t, s, "f1")
	if _, _, err := s.CreateSubmission(ctx, Sub("f1", "s1", "k1"), 3); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, gateway.Token{Hash: [32]byte{7}, Kind: gateway.TokenUser, PartnerID: "p", FlowID: "f1", ExpiresAt: T0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)).Public().(ed25519.PublicKey)
	if _, _, err := registry(t, s).AddDevice(ctx, gateway.Device{ID: "kiosk-1", PublicKey: key, CreatedAt: T0}); err != nil {
		t.Fatal(err)
	}
	closeFn()
	s2 := db.Store()
	if _, err := s2.FlowByID(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	if tok, err := s2.LookupToken(ctx, [32]byte{7}, T0); err != nil || tok.FlowID != "f1" {
		t.Errorf("token after reopen: %+v %v", tok, err)
	}
	if d, err := registry(t, s2).DeviceByID(ctx, "kiosk-1"); err != nil || !d.PublicKey.Equal(key) {
		t.Errorf("device after reopen: %+v %v", d, err)
	}
	c, err := s2.ClaimSubmission(ctx, "w", T0, T0.Add(time.Minute))
	if err != nil || c.ID != "s1" || string(c.Selfie) != "jpeg-s1" {
		t.Errorf("pending submission after reopen: %+v %v", c, err)
	}
	if _, dup, err := s2.CreateSubmission(ctx, Sub("f1", "s1", "k1"), 3); err != nil || !dup {
		t.Errorf("idempotency key after reopen: dup=%v %v", dup, err)
	}
}
