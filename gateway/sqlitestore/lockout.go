package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/storesql"
)

// FailedAttempts implements gateway.Store. It reads the user's flows
// through index flows_user (privacySchema).
func (s *Store) FailedAttempts(ctx context.Context, user gateway.UserKey, reasons []string, since time.Time, limit int) ([]time.Time, error) {
	if len(reasons) == 0 || limit <= 0 {
		return nil, nil
	}
	args := []any{user.PartnerID, user.PartnerUserID, user.PartnerUserIDType, since.UnixMicro()}
	for _, r := range reasons {
		args = append(args, r)
	}
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, `
SELECT s.processed_at FROM submissions s JOIN flows f ON f.id = s.flow_id
WHERE f.partner_id = ? AND f.partner_user_id = ? AND f.partner_user_id_type = ?
  AND s.state = 'done' AND s.processed_at >= ?
  AND s.reason IN (?`+strings.Repeat(", ?", len(reasons)-1)+`)
ORDER BY s.processed_at DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("failed attempts: %w", err)
	}
	defer rows.Close()
	return storesql.Collect(rows, "failed attempts", storesql.ScanTime)
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
	if _, err := s.db.ExecContext(ctx, `INSERT INTO user_locks (ref, unlock_at) VALUES (?, ?)
		ON CONFLICT (ref) DO UPDATE SET unlock_at = max(unlock_at, excluded.unlock_at)`, ref, until.UnixMicro()); err != nil {
		return fmt.Errorf("hold user lock: %w", err)
	}
	return nil
}

// UserLockUntil implements gateway.Store.
func (s *Store) UserLockUntil(ctx context.Context, ref []byte, now time.Time) (time.Time, error) {
	var until int64
	err := s.db.QueryRowContext(ctx, `SELECT unlock_at FROM user_locks WHERE ref = ? AND unlock_at > ?`, ref, now.UnixMicro()).Scan(&until)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("user lock: %w", err)
	}
	return time.UnixMicro(until).UTC(), nil
}

// PurgeUserLocks implements gateway.Store.
func (s *Store) PurgeUserLocks(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM user_locks WHERE unlock_at <= ?`, now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("purge user locks: %w", err)
	}
	return res.RowsAffected()
}
