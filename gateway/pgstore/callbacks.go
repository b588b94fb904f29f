package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/storesql"
)

// callbacksSchema is schema version 3: flow deadlines (expiry of the latest
// user token) and callback delivery ids, events and redelivery counts.
// Open flows of older versions get the expiry of their latest user token,
// or their creation time when every token is gone (tokens are deleted only
// after they expire), so none stays open forever. The new callback columns
// have defaults (a random delivery id, event flow.completed), so a replica
// of the previous release still queues callbacks during a rolling upgrade.
const callbacksSchema = `
ALTER TABLE flows ADD COLUMN expires_at timestamptz;
UPDATE flows f SET expires_at = COALESCE(
	(SELECT max(t.expires_at) FROM tokens t WHERE t.flow_id = f.id COLLATE "C" AND t.kind = 'user'),
	f.created_at, now())
	WHERE f.status = '';
CREATE INDEX flows_open_expiry ON flows (expires_at) WHERE status = '';
ALTER TABLE callbacks
	ADD COLUMN delivery_id text COLLATE "C" NOT NULL DEFAULT ('dlv_' || replace(gen_random_uuid()::text, '-', '')),
	ADD COLUMN event text NOT NULL DEFAULT 'flow.completed',
	ADD COLUMN redeliveries integer NOT NULL DEFAULT 0,
	ADD CONSTRAINT callbacks_delivery_key UNIQUE (delivery_id);
`

// ExpireFlow implements gateway.Store. The flow row is locked first (FOR
// UPDATE, which waits for CreateSubmission's FOR NO KEY UPDATE), then the
// open submissions are counted in a new statement that sees every
// submission committed before the lock was granted; the update and the
// callback follow in the same transaction. Of two replicas expiring one
// flow, the second finds it closed.
func (s *Store) ExpireFlow(ctx context.Context, id string, now time.Time, cb *gateway.NewCallback) (bool, error) {
	closed := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var status, partnerID string
		var expires *time.Time
		err := tx.QueryRow(ctx, `SELECT status, partner_id, expires_at FROM flows WHERE id = $1 FOR UPDATE`, id).
			Scan(&status, &partnerID, &expires)
		if errors.Is(err, pgx.ErrNoRows) {
			return gateway.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock flow: %w", err)
		}
		if status != "" || expires == nil || expires.After(at(now)) {
			return nil
		}
		var open bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM submissions WHERE flow_id = $1 AND state <> 'done')`, id).Scan(&open); err != nil {
			return fmt.Errorf("count open submissions: %w", err)
		}
		if open {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE flows SET status = $1, reason = '', completed_at = $2 WHERE id = $3`,
			api.StatusExpired, at(now), id); err != nil {
			return fmt.Errorf("expire flow: %w", err)
		}
		closed = true
		if cb == nil {
			return nil
		}
		return storesql.QueueCallback(ctx, conn{tx}, id, partnerID, *cb, now)
	})
	if err != nil {
		return false, err
	}
	return closed, nil
}

// RedeliverCallback implements gateway.Store.
func (s *Store) RedeliverCallback(ctx context.Context, deliveryID string, when time.Time) (gateway.CallbackRecord, error) {
	return storesql.RedeliverCallback(ctx, conn{s.pool}, dec, deliveryID, when)
}
