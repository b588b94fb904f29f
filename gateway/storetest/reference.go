package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

// refStore returns s as a gateway.ReferenceStore, failing t if it is not one.
func refStore(t *testing.T, s gateway.Store) gateway.ReferenceStore {
	t.Helper()
	rs, ok := s.(gateway.ReferenceStore)
	if !ok {
		t.Fatalf("%T does not implement gateway.ReferenceStore", s)
	}
	return rs
}

// testReferences: a flow's reference row is leased to one claimant at a
// time (also across handles, as replicas), holds the sealed profile its
// owner puts, is taken over after its lease ends without a profile, is
// dropped on release, and is deleted when the flow closes (final decision,
// expiry) or is erased; nothing can be kept for a closed or unknown flow.
func testReferences(t *testing.T, db *DB) {
	ctx := context.Background()
	s1, s2 := db.Store(), db.Store()
	r1, r2 := refStore(t, s1), refStore(t, s2)
	lease := T0.Add(time.Minute)

	if _, _, err := r1.ClaimReference(ctx, "flw_none", "a", T0, lease); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("claim for an unknown flow: %v, want ErrNotFound", err)
	}
	Flow(t, s1, "flw_1")
	ref, claimed, err := r1.ClaimReference(ctx, "flw_1", "a", T0, lease)
	if err != nil || !claimed || ref.Sealed != nil || ref.LeaseOwner != "a" || !ref.LeaseUntil.Equal(lease) {
		t.Fatalf("first claim: %+v %v %v", ref, claimed, err)
	}
	ref, claimed, err = r2.ClaimReference(ctx, "flw_1", "b", T0.Add(time.Second), lease.Add(time.Second))
	if err != nil || claimed || ref.Sealed != nil || !ref.LeaseUntil.Equal(lease) {
		t.Fatalf("claim under another's lease: %+v %v %v, want not claimed until %v", ref, claimed, err, lease)
	}
	if err := r2.PutReference(ctx, "flw_1", "b", []byte("sealed-b")); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Fatalf("put without the lease: %v, want ErrLeaseLost", err)
	}
	if err := r1.PutReference(ctx, "flw_1", "a", []byte("sealed-a")); err != nil {
		t.Fatalf("put: %v", err)
	}
	for i, r := range []gateway.ReferenceStore{r1, r2} {
		ref, claimed, err = r.ClaimReference(ctx, "flw_1", "c", lease.Add(time.Hour), lease.Add(2*time.Hour))
		if err != nil || claimed || string(ref.Sealed) != "sealed-a" {
			t.Fatalf("handle %d: claim of a kept reference: %+v %v %v, want sealed-a", i+1, ref, claimed, err)
		}
	}
	if err := r1.PutReference(ctx, "flw_1", "a", []byte("again")); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Fatalf("second put: %v, want ErrLeaseLost", err)
	}

	// A lease that ends without a profile is taken over; the old owner's
	// put is refused. A release drops the row for the next claimant.
	Flow(t, s1, "flw_2")
	if _, claimed, err := r1.ClaimReference(ctx, "flw_2", "a", T0, lease); err != nil || !claimed {
		t.Fatalf("claim flw_2: %v %v", claimed, err)
	}
	if _, claimed, err := r2.ClaimReference(ctx, "flw_2", "b", lease, lease.Add(time.Minute)); err != nil || !claimed {
		t.Fatalf("claim after the lease ended: %v %v, want claimed", claimed, err)
	}
	if err := r1.PutReference(ctx, "flw_2", "a", []byte("late")); !errors.Is(err, gateway.ErrLeaseLost) {
		t.Fatalf("put by the old owner: %v, want ErrLeaseLost", err)
	}
	if err := r1.ReleaseReference(ctx, "flw_2", "a"); err != nil {
		t.Fatalf("release not held: %v", err)
	}
	if _, claimed, _ := r1.ClaimReference(ctx, "flw_2", "c", lease, lease.Add(time.Minute)); claimed {
		t.Fatal("a release by a former owner dropped the new owner's lease")
	}
	if err := r2.ReleaseReference(ctx, "flw_2", "b"); err != nil {
		t.Fatalf("release: %v", err)
	}
	if _, claimed, err := r1.ClaimReference(ctx, "flw_2", "c", T0, lease); err != nil || !claimed {
		t.Fatalf("claim after release: %v %v, want claimed", claimed, err)
	}

	// Closing the flow deletes its reference: a final decision...
	if _, _, err := s1.CreateSubmission(ctx, Sub("flw_1", "sub_1", "k"), 3); err != nil {
		t.Fatal(err)
	}
	c, err := s1.ClaimSubmission(ctx, "w", T0, lease)
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.CompleteSubmission(ctx, gateway.Result{SubmissionID: c.ID, Owner: c.LeaseOwner, Status: api.StatusVerified,
		ProcessedAt: T0, Final: true, FlowStatus: api.StatusVerified}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r2.ClaimReference(ctx, "flw_1", "d", T0, lease); !errors.Is(err, gateway.ErrFlowFinal) {
		t.Fatalf("claim for a decided flow: %v, want ErrFlowFinal", err)
	}
	// (flw_2, still open, keeps its profile)...
	if err := r1.PutReference(ctx, "flw_2", "c", []byte("sealed-c")); err != nil {
		t.Fatal(err)
	}
	// ...expiry...
	Flow(t, s1, "flw_3")
	if err := s1.PutToken(ctx, gateway.Token{Hash: [32]byte{3}, Kind: gateway.TokenUser, PartnerID: "p", FlowID: "flw_3", ExpiresAt: T0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, claimed, err := r1.ClaimReference(ctx, "flw_3", "a", T0, lease); err != nil || !claimed {
		t.Fatalf("claim flw_3: %v %v", claimed, err)
	}
	if err := r1.PutReference(ctx, "flw_3", "a", []byte("sealed-3")); err != nil {
		t.Fatal(err)
	}
	if ok, err := s1.ExpireFlow(ctx, "flw_3", T0.Add(2*time.Minute), nil); err != nil || !ok {
		t.Fatalf("ExpireFlow: %v %v", ok, err)
	}
	if _, _, err := r1.ClaimReference(ctx, "flw_3", "b", T0, lease); !errors.Is(err, gateway.ErrFlowFinal) {
		t.Fatalf("claim for an expired flow: %v, want ErrFlowFinal", err)
	}
	if err := r1.PutReference(ctx, "flw_3", "a", []byte("x")); !errors.Is(err, gateway.ErrFlowFinal) {
		t.Fatalf("put for an expired flow: %v, want ErrFlowFinal", err)
	}
	// ...and erasure (flw_2 is user "u"'s last open flow with a reference).
	if _, err := s2.EraseUser(ctx, "p", "account", "u"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r1.ClaimReference(ctx, "flw_2", "e", T0, lease); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("claim for an erased flow: %v, want ErrNotFound", err)
	}
	if err := r1.PutReference(ctx, "flw_2", "c", []byte("y")); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("put for an erased flow: %v, want ErrNotFound", err)
	}
}
