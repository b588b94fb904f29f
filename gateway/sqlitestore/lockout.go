package sqlitestore

import (
	"context"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/storesql"
)

// FailedAttempts implements gateway.Store. It reads the user's flows
// through index flows_user (privacySchema).
func (s *Store) FailedAttempts(ctx context.Context, user gateway.UserKey, reasons []string, since time.Time, limit int) ([]time.Time, error) {
	return storesql.FailedAttempts(ctx, conn{s.db}, user, reasons, since, limit)
}

// userLocksSchema is the schema version that keeps a user's lockout
// through an erasure: one row per locked user, keyed by a keyed hash of
// the user (never the id), deleted after unlock_at.
const userLocksSchema = `
CREATE TABLE user_locks (
	ref       BLOB PRIMARY KEY,
	unlock_at INTEGER NOT NULL
);
`

// HoldUserLock implements gateway.Store.
func (s *Store) HoldUserLock(ctx context.Context, ref []byte, until time.Time) error {
	return storesql.HoldUserLock(ctx, conn{s.db}, ref, until)
}

// UserLockUntil implements gateway.Store.
func (s *Store) UserLockUntil(ctx context.Context, ref []byte, now time.Time) (time.Time, error) {
	return storesql.UserLockUntil(ctx, conn{s.db}, dec, ref, now)
}

// PurgeUserLocks implements gateway.Store.
func (s *Store) PurgeUserLocks(ctx context.Context, now time.Time) (int64, error) {
	return storesql.PurgeUserLocks(ctx, conn{s.db}, now)
}
