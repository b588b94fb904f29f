package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/storesql"
)

// FailedAttempts implements gateway.Store. It reads the user's flows
// through index flows_user (privacySchema).
func (s *Store) FailedAttempts(ctx context.Context, user gateway.UserKey, reasons []string, since time.Time, limit int) ([]time.Time, error) {
	if len(reasons) == 0 || limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
SELECT s.processed_at FROM submissions s JOIN flows f ON f.id = s.flow_id
WHERE f.partner_id = $1 AND f.partner_user_id = $2 AND f.partner_user_id_type = $3
  AND s.state = 'done' AND s.processed_at >= $4 AND s.reason = ANY($5)
ORDER BY s.processed_at DESC LIMIT $6`,
		user.PartnerID, user.PartnerUserID, user.PartnerUserIDType, at(since), reasons, limit)
	if err != nil {
		return nil, mapErr("failed attempts", err)
	}
	defer rows.Close()
	out, err := storesql.Collect(rows, "failed attempts", storesql.ScanTime)
	if err != nil {
		return nil, mapErr("failed attempts", err)
	}
	return out, nil
}

// userLocksSchema is the schema version that keeps a user's lockout
// through an erasure: one row per locked user, keyed by a keyed hash of
// the user (never the id), deleted after unlock_at.
const userLocksSchema = `
CREATE TABLE user_locks (
	ref       bytea PRIMARY KEY,
	unlock_at timestamptz NOT NULL
);
`

// HoldUserLock implements gateway.Store.
func (s *Store) HoldUserLock(ctx context.Context, ref []byte, until time.Time) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO user_locks (ref, unlock_at) VALUES ($1, $2)
		ON CONFLICT (ref) DO UPDATE SET unlock_at = greatest(user_locks.unlock_at, excluded.unlock_at)`, ref, at(until)); err != nil {
		return mapErr("hold user lock", err)
	}
	return nil
}

// UserLockUntil implements gateway.Store.
func (s *Store) UserLockUntil(ctx context.Context, ref []byte, now time.Time) (time.Time, error) {
	var until time.Time
	err := s.pool.QueryRow(ctx, `SELECT unlock_at FROM user_locks WHERE ref = $1 AND unlock_at > $2`, ref, at(now)).Scan(&until)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, mapErr("user lock", err)
	}
	return until.UTC(), nil
}

// PurgeUserLocks implements gateway.Store.
func (s *Store) PurgeUserLocks(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM user_locks WHERE unlock_at <= $1`, at(now))
	if err != nil {
		return 0, mapErr("purge user locks", err)
	}
	return tag.RowsAffected(), nil
}
