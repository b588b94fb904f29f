package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/faceverify/faceverify/gateway"
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
	var out []time.Time
	for rows.Next() {
		var t sql.NullInt64
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("failed attempts: %w", err)
		}
		out = append(out, fromTS(t))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("failed attempts: %w", err)
	}
	return out, nil
}
