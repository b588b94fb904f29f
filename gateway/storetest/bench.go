package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/internal/testenv"
)

// Bench runs the store benchmarks as sub-benchmarks of b, each on a fresh
// database:
//
//   - StatusRead: what GET /v1/status reads (LookupToken, Submissions of a
//     flow with two attempts, FlowByID), among 1000 flows;
//   - Claim: ClaimSubmission of one submission among 1000 due ones (the
//     clock advances past the previous lease each time, so the row claimed
//     before is due again);
//   - ClaimParallel: the same from GOMAXPROCS goroutines over two handles
//     (two gateway processes), each claim a different row;
//   - RecordSelfie: the submission-replay lookup and insert among 2000
//     selfie hashes.
func Bench(b *testing.B, fresh Fresh) {
	b.Run("StatusRead", func(b *testing.B) { benchStatusRead(b, &DB{t: b, open: fresh(b)}) })
	b.Run("Claim", func(b *testing.B) { benchClaim(b, &DB{t: b, open: fresh(b)}) })
	b.Run("ClaimParallel", func(b *testing.B) { benchClaimParallel(b, &DB{t: b, open: fresh(b)}) })
	b.Run("RecordSelfie", func(b *testing.B) { benchRecordSelfie(b, &DB{t: b, open: fresh(b)}) })
}

const benchFlows = 1000

// seed adds benchFlows flows, each with a pending submission; when done,
// each flow's first attempt is done and a second is pending.
func seed(b *testing.B, s gateway.Store, done bool) {
	b.Helper()
	ctx := context.Background()
	for i := range benchFlows {
		f := Flow(b, s, fmt.Sprintf("f%04d", i))
		sub := Sub(f.ID, fmt.Sprintf("s%04d", i), fmt.Sprintf("k%04d", i))
		sub.SubmittedAt = T0.Add(time.Duration(i) * time.Millisecond)
		if _, _, err := s.CreateSubmission(ctx, sub, 3); err != nil {
			b.Fatal(err)
		}
		if err := s.PutToken(ctx, gateway.Token{Hash: sha256.Sum256([]byte(f.ID)), Kind: gateway.TokenUser, PartnerID: "p", FlowID: f.ID, ExpiresAt: T0.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		if !done {
			continue
		}
		c, err := s.ClaimSubmission(ctx, "seed", T0.Add(time.Hour), T0.Add(2*time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: c.ID, Owner: "seed", Status: api.StatusRejected,
			Reason: api.ReasonNoFace, Liveness: fp(0.4), ProcessedAt: T0}); err != nil {
			b.Fatal(err)
		}
		next := Sub(f.ID, sub.ID+"b", sub.IdempotencyKey+"b")
		next.SubmittedAt = T0.Add(time.Hour) // after every first attempt: the next claim takes flow i+1's
		if _, _, err := s.CreateSubmission(ctx, next, 3); err != nil {
			b.Fatal(err)
		}
	}
}

func benchStatusRead(b *testing.B, db *DB) {
	s := db.Store()
	seed(b, s, true)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	defer testenv.CPUMeter(b, time.Microsecond)()
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("f%04d", i%benchFlows)
		i++
		tok, err := s.LookupToken(ctx, sha256.Sum256([]byte(id)), T0)
		if err != nil {
			b.Fatal(err)
		}
		subs, err := s.Submissions(ctx, tok.FlowID)
		if err != nil || len(subs) != 2 {
			b.Fatalf("Submissions = %d, %v", len(subs), err)
		}
		if _, err := s.FlowByID(ctx, tok.FlowID); err != nil {
			b.Fatal(err)
		}
	}
}

func benchClaim(b *testing.B, db *DB) {
	s := db.Store()
	seed(b, s, false)
	ctx := context.Background()
	now := T0.Add(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	defer testenv.CPUMeter(b, time.Microsecond)()
	for b.Loop() {
		now = now.Add(time.Second)
		if _, err := s.ClaimSubmission(ctx, "w", now, now.Add(time.Second)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchClaimParallel(b *testing.B, db *DB) {
	stores := []gateway.Store{db.Store(), db.Store()}
	seed(b, stores[0], false)
	ctx := context.Background()
	// Every claim leases its row for an hour of a clock that advances a
	// second per claim, and releases it after; rows are due again at once.
	var clock, next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	defer testenv.CPUMeter(b, time.Microsecond)()
	b.RunParallel(func(pb *testing.PB) {
		s := stores[next.Add(1)%2]
		for pb.Next() {
			now := T0.Add(time.Hour + time.Duration(clock.Add(1))*time.Second)
			owner := fmt.Sprint("w", now.UnixNano())
			c, err := s.ClaimSubmission(ctx, owner, now, now.Add(time.Hour))
			if errors.Is(err, gateway.ErrNotFound) {
				continue // every row leased by the other goroutines
			}
			if err != nil {
				b.Error(err)
				return
			}
			if err := s.ReleaseSubmission(ctx, c.ID, owner, T0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
