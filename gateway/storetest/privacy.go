package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

// userFlow creates flow id of partner for user (id type "account"),
// created at created.
func userFlow(t *testing.T, s gateway.Store, id, partner, user string, created time.Time) gateway.Flow {
	t.Helper()
	f, ok, err := s.CreateFlow(context.Background(), gateway.Flow{ID: id, PartnerID: partner, CorrelationID: "c-" + id,
		PartnerUserID: user, PartnerUserIDType: "account", Kind: api.FlowSelfie, CreatedAt: created})
	if err != nil || !ok {
		t.Fatalf("CreateFlow %s: %v %v", id, ok, err)
	}
	return f
}

// decide submits one selfie to flow f at at and records a final result
// with a callback.
func decide(t *testing.T, s gateway.Store, f gateway.Flow, at time.Time) {
	t.Helper()
	ctx := context.Background()
	sub := Sub(f.ID, "s-"+f.ID, "")
	sub.SubmittedAt = at
	if _, _, err := s.CreateSubmission(ctx, sub, 3); err != nil {
		t.Fatal(err)
	}
	c, err := s.ClaimSubmission(ctx, "w-"+f.ID, at, at.Add(time.Minute))
	if err != nil || c.ID != sub.ID {
		t.Fatalf("claim %s: %+v %v", sub.ID, c, err)
	}
	if err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: c.ID, Owner: c.LeaseOwner, Status: api.StatusVerified,
		ProcessedAt: at, Final: true, FlowStatus: api.StatusVerified, Callback: []byte(`{"flow":"` + f.ID + `"}`)}); err != nil {
		t.Fatal(err)
	}
}

// testEraseUser: a user's flows, submissions, callbacks and user tokens
// go; other users' and other partners' stay; a second erase is a no-op.
func testEraseUser(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	done := userFlow(t, s, "f-done", "p", "alice", T0)
	decide(t, s, done, T0)
	open := userFlow(t, s, "f-open", "p", "alice", T0)
	if _, _, err := s.CreateSubmission(ctx, Sub(open.ID, "s-open", "k"), 3); err != nil {
		t.Fatal(err)
	}
	tok := [32]byte{7}
	if err := s.PutToken(ctx, gateway.Token{Hash: tok, Kind: gateway.TokenUser, PartnerID: "p", FlowID: open.ID, ExpiresAt: T0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	partnerTok := [32]byte{8}
	if err := s.PutToken(ctx, gateway.Token{Hash: partnerTok, Kind: gateway.TokenPartner, PartnerID: "p", ExpiresAt: T0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	bob := userFlow(t, s, "f-bob", "p", "bob", T0)
	decide(t, s, bob, T0)
	otherPartner := userFlow(t, s, "f-q", "q", "alice", T0)
	decide(t, s, otherPartner, T0)
	if got, err := s.EraseUser(ctx, "p", "msisdn", "alice"); err != nil || !got.Zero() {
		t.Errorf("other id type: %+v %v", got, err)
	}
	got, err := s.EraseUser(ctx, "p", "account", "alice")
	want := gateway.Erased{Flows: 2, Submissions: 2, Callbacks: 1, Tokens: 1}
	if err != nil || got != want {
		t.Fatalf("EraseUser = %+v %v, want %+v", got, err, want)
	}
	for _, id := range []string{done.ID, open.ID} {
		if _, err := s.FlowByID(ctx, id); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("flow %s after erasure: %v", id, err)
		}
		if subs, err := s.Submissions(ctx, id); err != nil || len(subs) != 0 {
			t.Errorf("submissions of %s after erasure: %+v %v", id, subs, err)
		}
	}
	if _, err := s.LookupToken(ctx, tok, T0); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("the erased open flow's user token still works: %v", err)
	}
	if _, err := s.LookupToken(ctx, partnerTok, T0); err != nil {
		t.Errorf("partner token erased with a user: %v", err)
	}
	if _, err := s.ClaimSubmission(ctx, "w", T0, T0.Add(time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("the erased pending submission can still be claimed: %v", err)
	}
	for _, id := range []string{bob.ID, otherPartner.ID} {
		if _, err := s.FlowByID(ctx, id); err != nil {
			t.Errorf("flow %s of another user or partner: %v", id, err)
		}
	}
	claimed := map[string]bool{}
	for {
		j, err := s.ClaimCallback(ctx, T0, T0.Add(time.Minute))
		if errors.Is(err, gateway.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		claimed[j.FlowID] = true
	}
	if len(claimed) != 2 || !claimed[bob.ID] || !claimed[otherPartner.ID] {
		t.Errorf("callbacks left %v, want those of %s and %s", claimed, bob.ID, otherPartner.ID)
	}
	if got, err := s.EraseUser(ctx, "p", "account", "alice"); err != nil || !got.Zero() {
		t.Errorf("second EraseUser = %+v %v, want zeros", got, err)
	}
}

// testPurge: flows past retention go in batches with their rows; old
// delivered or given-up callback bodies are emptied, pending ones kept.
func testPurge(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	day := 24 * time.Hour
	for i := range 3 {
		decide(t, s, userFlow(t, s, fmt.Sprintf("old-%d", i), "p", "u", T0), T0)
	}
	userFlow(t, s, "old-open", "p", "u", T0) // never decided
	decide(t, s, userFlow(t, s, "new", "p", "u", T0.Add(10*day)), T0.Add(10*day))
	// Callbacks: old-0 delivered, old-1 given up, new delivered, old-2 pending.
	done := map[string]int64{}
	for {
		j, err := s.ClaimCallback(ctx, T0.Add(10*day), T0.Add(10*day+time.Minute))
		if errors.Is(err, gateway.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		done[j.FlowID] = j.ID
	}
	if len(done) != 4 {
		t.Fatalf("callbacks %v", done)
	}
	must(t, s.CallbackDelivered(ctx, done["old-0"], T0))
	must(t, s.CallbackFailed(ctx, done["old-1"], T0, "gone", true))
	must(t, s.CallbackDelivered(ctx, done["new"], T0.Add(10*day)))
	must(t, s.CallbackFailed(ctx, done["old-2"], T0.Add(10*day), "retry", false))

	bodies, err := s.Purge(ctx, gateway.PurgePolicy{CallbackBodiesBefore: T0.Add(day), Limit: 10})
	if err != nil || bodies != (gateway.Erased{CallbackBodies: 2}) {
		t.Errorf("Purge(bodies) = %+v %v, want 2 bodies", bodies, err)
	}
	if again, err := s.Purge(ctx, gateway.PurgePolicy{CallbackBodiesBefore: T0.Add(day), Limit: 10}); err != nil || !again.Zero() {
		t.Errorf("Purge(bodies) again = %+v %v", again, err)
	}
	if j, err := s.ClaimCallback(ctx, T0.Add(10*day), T0.Add(11*day)); err != nil || j.FlowID != "old-2" || len(j.Body) == 0 {
		t.Errorf("pending callback = %+v %v, want old-2 with its body", j, err)
	}

	p := gateway.PurgePolicy{FlowsBefore: T0.Add(day), Limit: 3}
	first, err := s.Purge(ctx, p)
	if err != nil || first.Flows != 3 {
		t.Fatalf("Purge batch 1 = %+v %v, want 3 flows", first, err)
	}
	second, err := s.Purge(ctx, p)
	if err != nil || second.Flows != 1 {
		t.Fatalf("Purge batch 2 = %+v %v, want 1 flow", second, err)
	}
	total := first.Submissions + second.Submissions
	if total != 3 || first.Callbacks+second.Callbacks != 3 {
		t.Errorf("purged submissions %d callbacks %d, want 3 and 3", total, first.Callbacks+second.Callbacks)
	}
	if third, err := s.Purge(ctx, p); err != nil || !third.Zero() {
		t.Errorf("Purge after everything old went = %+v %v", third, err)
	}
	for _, id := range []string{"old-0", "old-1", "old-2", "old-open"} {
		if _, err := s.FlowByID(ctx, id); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("flow %s past retention: %v", id, err)
		}
	}
	if f, err := s.FlowByID(ctx, "new"); err != nil || !f.Final() {
		t.Errorf("recent flow purged: %+v %v", f, err)
	}
	if subs, _ := s.Submissions(ctx, "new"); len(subs) != 1 {
		t.Errorf("recent flow's submission: %+v", subs)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testAuditLog: appends from two handles at once form one contiguous,
// verifiable chain; entries read back as written; an altered entry fails
// verification.
func testAuditLog(t *testing.T, db *DB) {
	s1, s2 := db.Store(), db.Store()
	ctx := context.Background()
	if got, err := s1.AuditLog(ctx, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("empty log: %+v %v", got, err)
	}
	first, err := s1.AppendAudit(ctx, gateway.AuditEntry{At: T0.Add(123456789 * time.Nanosecond), Actor: "partner:p",
		Action: gateway.AuditDetailsRead, Subject: "c-1", Detail: `{"n":1}`})
	if err != nil || first.Seq != 1 || len(first.PrevHash) != 32 || len(first.Hash) != 32 || !first.At.Equal(T0.Add(123456*time.Microsecond)) {
		t.Fatalf("first append = %+v %v", first, err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for w, s := range []gateway.Store{s1, s2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if _, err := s.AppendAudit(ctx, gateway.AuditEntry{At: T0, Actor: "operator:test", Action: gateway.AuditDeviceAdd,
					Subject: fmt.Sprintf("kiosk-%d-%d", w, i)}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var v gateway.AuditVerifier
	var all []gateway.AuditEntry
	for after := int64(0); ; {
		page, err := s2.AuditLog(ctx, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if err := v.Next(page); err != nil {
			t.Fatalf("chain: %v", err)
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
	if v.Count != 2*n+1 || len(all) != 2*n+1 {
		t.Fatalf("verified %d rows, want %d", v.Count, 2*n+1)
	}
	got := all[0]
	if got.Actor != first.Actor || got.Action != first.Action || got.Subject != first.Subject || got.Detail != first.Detail ||
		!got.At.Equal(first.At) || string(got.Hash) != string(first.Hash) {
		t.Errorf("read back %+v, wrote %+v", got, first)
	}
	altered := append([]gateway.AuditEntry(nil), all...)
	altered[5].Subject = "kiosk-other"
	var v2 gateway.AuditVerifier
	if err := v2.Next(altered); !errors.Is(err, gateway.ErrAuditChain) {
		t.Errorf("altered row verified: %v", err)
	}
	var v3 gateway.AuditVerifier
	if err := v3.Next(append(all[:3:3], all[4:]...)); !errors.Is(err, gateway.ErrAuditChain) {
		t.Errorf("removed row verified: %v", err)
	}
}
