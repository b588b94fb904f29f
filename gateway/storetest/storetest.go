// Package storetest is the conformance suite of gateway.Store (and
// gateway.DeviceRegistry): every backend runs the same tests and
// benchmarks, so the gateway behaves the same on SQLite and PostgreSQL.
//
// A backend's test calls
//
//	storetest.Run(t, func(t testing.TB) storetest.Opener {
//		path := filepath.Join(t.TempDir(), "gw.db") // a fresh database
//		return func(t testing.TB) gateway.Store { return mustOpen(t, path) }
//	})
//
// The Opener is called once per handle the test needs: tests of exclusive
// claims open two handles on one database, as two gateway processes would,
// and the reopen test closes a handle and opens another.
package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

// Opener opens a new handle (its own connections) on one database. The
// suite closes every handle it opens.
type Opener func(t testing.TB) gateway.Store

// Fresh makes a new, empty database for one test (removed when t ends) and
// returns its Opener.
type Fresh func(t testing.TB) Opener

// Run runs the conformance suite as subtests of t, each on a fresh
// database.
func Run(t *testing.T, fresh Fresh) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *DB)
	}{
		{"Tokens", testTokens},
		{"CreateSubmissionRules", testCreateSubmissionRules},
		{"CorrelationConflict", testCorrelationConflict},
		{"NotFound", testNotFound},
		{"ConcurrentCreateFlow", testConcurrentCreateFlow},
		{"ConcurrentCreateSubmission", testConcurrentCreateSubmission},
		{"SubmissionFields", testSubmissionFields},
		{"ClaimOrder", testClaimOrder},
		{"ClaimExclusive", testClaimExclusive},
		{"Lease", testLease},
		{"CallbackOutbox", testCallbackOutbox},
		{"CallbackClaimExclusive", testCallbackClaimExclusive},
		{"CallbackDelivery", testCallbackDelivery},   // callbacks.go
		{"RedeliverCallback", testRedeliverCallback}, // callbacks.go
		{"FlowExpiry", testFlowExpiry},               // callbacks.go
		{"ConcurrentExpire", testConcurrentExpire},   // callbacks.go
		{"Devices", testDevices},
		{"ReplaceDevice", testReplaceDevice},
		{"TimePrecision", testTimePrecision},
		{"ReopenKeepsData", testReopenKeepsData},
		{"EraseUser", testEraseUser}, // privacy.go
		{"Purge", testPurge},
		{"AuditLog", testAuditLog},
		{"SubmissionDetail", testSubmissionDetail}, // detail.go
		{"SelfieHashes", testSelfieHashes},
		{"SelfieHashesConcurrent", testSelfieHashesConcurrent},
		{"SignatureUses", testSignatureUses},
		{"EraseUserReplay", testEraseUserReplay},
		{"FailedAttempts", testFailedAttempts}, // lockout.go
		{"UserLocks", testUserLocks},
		{"References", testReferences}, // reference.go
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, &DB{t: t, open: fresh(t)})
		})
	}
}

// DB is one fresh database of a test.
type DB struct {
	t    testing.TB
	open Opener
}

// Open opens a handle on the database, closed when the test ends or by the
// returned close function, whichever comes first.
func (db *DB) Open() (gateway.Store, func()) {
	db.t.Helper()
	s := db.open(db.t)
	var once sync.Once
	closeFn := func() {
		once.Do(func() {
			if err := s.Close(); err != nil {
				db.t.Errorf("Close: %v", err)
			}
		})
	}
	db.t.Cleanup(closeFn)
	return s, closeFn
}

// Store opens a handle closed when the test ends.
func (db *DB) Store() gateway.Store {
	db.t.Helper()
	s, _ := db.Open()
	return s
}

// T0 is the suite's reference time: whole seconds, UTC.
var T0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// Flow creates a selfie flow of partner "p" with correlation id "c-"+id for
// user "u", created at T0, failing t unless it was created.
func Flow(t testing.TB, s gateway.Store, id string) gateway.Flow {
	t.Helper()
	f, created, err := s.CreateFlow(context.Background(), gateway.Flow{ID: id, PartnerID: "p", CorrelationID: "c-" + id,
		PartnerUserID: "u", PartnerUserIDType: "account", Kind: api.FlowSelfie, CreatedAt: T0})
	if err != nil || !created {
		t.Fatalf("CreateFlow: %v %v", created, err)
	}
	return f
}

// Sub is a submission of flowID with the given id and idempotency key,
// fingerprint []byte(id) and selfie "jpeg-"+id, submitted at T0.
func Sub(flowID, id, key string) gateway.Submission {
	return gateway.Submission{ID: id, FlowID: flowID, IdempotencyKey: key, Fingerprint: []byte(id), DeviceID: "d",
		Selfie: []byte("jpeg-" + id), SubmittedAt: T0}
}
