package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/testenv"
)

func replayStore(t *testing.T, s gateway.Store) gateway.ReplayStore {
	t.Helper()
	rs, ok := s.(gateway.ReplayStore)
	if !ok {
		t.Fatalf("%T does not implement gateway.ReplayStore", s)
	}
	return rs
}

func selfieHash(sub, flow, bytes string, face inference.PHash, hasFace bool, at time.Time) gateway.SelfieHash {
	d := sha256.Sum256([]byte(bytes))
	return gateway.SelfieHash{SubmissionID: sub, FlowID: flow, Digest: d[:], Face: face, HasFace: hasFace, SeenAt: at}
}

func ids(hs []gateway.SelfieHash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.SubmissionID
	}
	sort.Strings(out)
	return out
}

func testSelfieHashes(t *testing.T, db *DB) {
	s := replayStore(t, db.Store())
	ctx := context.Background()
	const base inference.PHash = 0x0123_4567_89ab_cdef
	// One bit off in every band: distance 4, shares no band.
	const allBands inference.PHash = base ^ 0x0001_0001_0001_0001
	rec := func(h gateway.SelfieHash, probes []inference.PHash, since time.Time) []string {
		t.Helper()
		got, err := s.RecordSelfie(ctx, h, probes, since)
		if err != nil {
			t.Fatalf("RecordSelfie(%s): %v", h.SubmissionID, err)
		}
		for _, c := range got {
			if c.SubmissionID == "s1" && (c.FlowID != "f1" || !c.HasFace || c.Face != base || !c.SeenAt.Equal(T0) || len(c.Digest) != 32) {
				t.Errorf("candidate s1 read back as %+v", c)
			}
		}
		return ids(got)
	}
	if got := rec(selfieHash("s1", "f1", "a", base, true, T0), []inference.PHash{base}, T0.Add(-time.Hour)); len(got) != 0 {
		t.Fatalf("first selfie has candidates %v", got)
	}
	tests := []struct {
		name   string
		h      gateway.SelfieHash
		probes []inference.PHash
		since  time.Time
		want   []string
	}{
		{"same bytes, other flow", selfieHash("s2", "f2", "a", 0, false, T0.Add(time.Second)), nil, T0, []string{"s1"}},
		{"same bytes, same flow: only the other flow's", selfieHash("s3", "f1", "a", 0, false, T0.Add(time.Second)), nil, T0, []string{"s2"}},
		{"one band shared", selfieHash("s4", "f4", "b", base^0xffff, true, T0.Add(time.Second)), []inference.PHash{base ^ 0xffff}, T0, []string{"s1"}},
		{"mirror probe shares a band", selfieHash("s5", "f5", "c", ^base, true, T0.Add(time.Second)), []inference.PHash{^base, base ^ 0xffff_0000_0000_0000}, T0, []string{"s1", "s4"}},
		{"no band shared", selfieHash("s6", "f6", "d", allBands, true, T0.Add(time.Second)), []inference.PHash{allBands}, T0, nil},
		{"older than since", selfieHash("s7", "f7", "a", base, true, T0.Add(time.Second)), []inference.PHash{base}, T0.Add(time.Millisecond), []string{"s2", "s3", "s4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rec(tt.h, tt.probes, tt.since)
			if len(got) != len(tt.want) || (len(got) > 0 && !equalStrings(got, tt.want)) {
				t.Errorf("candidates %v, want %v", got, tt.want)
			}
		})
	}
	// Recording a submission again (a retried claim) keeps the first row.
	if got := rec(selfieHash("s1", "f9", "z", 0, false, T0.Add(time.Hour)), nil, T0); len(got) != 0 {
		t.Errorf("re-record found %v", got)
	}
	if got := rec(selfieHash("s8", "f8", "a", 0, false, T0.Add(time.Second)), nil, T0); !contains(got, "s1") {
		t.Errorf("s1 changed by a second RecordSelfie: candidates %v", got)
	}
	// Purge keeps what was seen at or after the cut.
	n, err := s.PurgeSelfies(ctx, T0.Add(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("PurgeSelfies = %d, %v; want 1 (s1)", n, err)
	}
	if got := rec(selfieHash("s9", "f9", "a", base, true, T0.Add(2*time.Second)), []inference.PHash{base}, T0.Add(-time.Hour)); contains(got, "s1") || !contains(got, "s2") {
		t.Errorf("after purge: candidates %v, want s2 and not s1", got)
	}
}

// testSelfieHashesConcurrent: of two handles recording the same bytes for
// different flows at once, exactly one finds the other.
func testSelfieHashesConcurrent(t *testing.T, db *DB) {
	a, b := replayStore(t, db.Store()), replayStore(t, db.Store())
	ctx := context.Background()
	for i := range 10 {
		bytes := string(rune('a' + i))
		var wg sync.WaitGroup
		found := make([]int, 2)
		for j, s := range []gateway.ReplayStore{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := s.RecordSelfie(ctx, selfieHash(bytes+string(rune('0'+j)), "flow"+string(rune('0'+j)), bytes, 0, false, T0), nil, T0.Add(-time.Hour))
				if err != nil {
					t.Errorf("RecordSelfie: %v", err)
				}
				found[j] = len(got)
			}()
		}
		wg.Wait()
		if found[0]+found[1] != 1 {
			t.Fatalf("round %d: candidates found %v, want exactly one side to see the other", i, found)
		}
	}
}

func testSignatureUses(t *testing.T, db *DB) {
	s := replayStore(t, db.Store())
	ctx := context.Background()
	u := gateway.SignatureUse{Hash: [32]byte{1}, FlowID: "f1", IdempotencyKey: "k1", ExpiresAt: T0.Add(5 * time.Minute)}
	got, fresh, err := s.UseSignature(ctx, u)
	if err != nil || !fresh || got != u {
		t.Fatalf("first use: %+v %v %v", got, fresh, err)
	}
	again := u
	again.FlowID, again.IdempotencyKey = "f2", "k2"
	got, fresh, err = s.UseSignature(ctx, again)
	if err != nil || fresh || got.FlowID != "f1" || got.IdempotencyKey != "k1" || !got.ExpiresAt.Equal(u.ExpiresAt) || got.Hash != u.Hash {
		t.Fatalf("second use: %+v %v %v, want the first use", got, fresh, err)
	}
	other := gateway.SignatureUse{Hash: [32]byte{2}, FlowID: "f1", IdempotencyKey: "k2", ExpiresAt: T0.Add(10 * time.Minute)}
	if _, fresh, err := s.UseSignature(ctx, other); err != nil || !fresh {
		t.Fatalf("other signature: %v %v", fresh, err)
	}
	if n, err := s.PurgeSignatures(ctx, T0.Add(5*time.Minute)); err != nil || n != 1 {
		t.Fatalf("PurgeSignatures = %d, %v; want 1", n, err)
	}
	if _, fresh, err := s.UseSignature(ctx, again); err != nil || !fresh {
		t.Errorf("after its purge the hash is new again: %v %v", fresh, err)
	}
	if _, fresh, err := s.UseSignature(ctx, other); err != nil || fresh {
		t.Errorf("unexpired use purged: %v %v", fresh, err)
	}
	// Concurrent uses of one signature: exactly one is fresh.
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh2 := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, f, err := s.UseSignature(ctx, gateway.SignatureUse{Hash: [32]byte{3}, FlowID: "f", IdempotencyKey: string(rune('a' + i)), ExpiresAt: T0})
			if err != nil {
				t.Errorf("UseSignature: %v", err)
			}
			if f {
				mu.Lock()
				fresh2++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if fresh2 != 1 {
		t.Errorf("%d concurrent uses were fresh, want 1", fresh2)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// benchRecordSelfie is RecordSelfie (lookup by digest and the four bands
// of two probes, then insert) among benchSelfies hashes of random bits.
func benchRecordSelfie(b *testing.B, db *DB) {
	s, ok := db.Store().(gateway.ReplayStore)
	if !ok {
		b.Skip("store has no replay cache")
	}
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range benchSelfies {
		h := inference.PHash(r.Uint64())
		if _, err := s.RecordSelfie(ctx, selfieHash(fmt.Sprintf("seed%05d", i), fmt.Sprintf("f%05d", i), fmt.Sprint(i), h, true, T0), nil, T0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	defer testenv.CPUMeter(b, time.Microsecond)()
	i := 0
	for b.Loop() {
		i++
		h, m := inference.PHash(r.Uint64()), inference.PHash(r.Uint64())
		if _, err := s.RecordSelfie(ctx, selfieHash(fmt.Sprintf("b%d", i), fmt.Sprintf("bf%d", i), fmt.Sprintf("b%d", i), h, true, T0.Add(time.Second)),
			[]inference.PHash{h, m}, T0); err != nil {
			b.Fatal(err)
		}
	}
}

const benchSelfies = 2000

// testEraseUserReplay: EraseUser deletes the selfie hashes and signature
// uses of the user's flows, and only theirs.
func testEraseUserReplay(t *testing.T, db *DB) {
	st := db.Store()
	s := replayStore(t, st)
	ctx := context.Background()
	for _, f := range []struct{ id, user string }{{"fa", "alice"}, {"fb", "bob"}} {
		if _, _, err := st.CreateFlow(ctx, gateway.Flow{ID: f.id, PartnerID: "p", CorrelationID: "c-" + f.id, PartnerUserID: f.user,
			PartnerUserIDType: "account", Kind: api.FlowSelfie, CreatedAt: T0}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordSelfie(ctx, selfieHash("s-"+f.id, f.id, "same", 0, false, T0), nil, T0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.UseSignature(ctx, gateway.SignatureUse{Hash: sha256.Sum256([]byte(f.id)), FlowID: f.id, IdempotencyKey: "k", ExpiresAt: T0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.EraseUser(ctx, "p", "account", "alice"); err != nil {
		t.Fatal(err)
	}
	got, err := s.RecordSelfie(ctx, selfieHash("s-new", "fnew", "same", 0, false, T0), nil, T0)
	if err != nil || !equalStrings(ids(got), []string{"s-fb"}) {
		t.Errorf("after erasing alice: candidates %v (%v), want only bob's s-fb", ids(got), err)
	}
	for id, wantFresh := range map[string]bool{"fa": true, "fb": false} {
		if _, fresh, err := s.UseSignature(ctx, gateway.SignatureUse{Hash: sha256.Sum256([]byte(id)), FlowID: "other", IdempotencyKey: "k", ExpiresAt: T0.Add(time.Hour)}); err != nil || fresh != wantFresh {
			t.Errorf("signature of %s after erasing alice: fresh %v (%v), want %v", id, fresh, err, wantFresh)
		}
	}
}
