package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faceverify/faceverify/gateway"
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
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (time.Time, error) {
		var t time.Time
		err := row.Scan(&t)
		return t.UTC(), err
	})
	if err != nil {
		return nil, mapErr("failed attempts", err)
	}
	return out, nil
}
