package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/storesql"
)

// callbacksSchema is schema version 4: flow deadlines (expiry of the latest
// user token) and callback delivery ids, events and redelivery counts.
// Open flows of older versions get the expiry of their latest user token,
// or their creation time when every token is gone (tokens are deleted only
// after they expire), so none stays open forever. Older callbacks get the
// delivery id "dlv_legacy_<id>" and event flow.completed.
const callbacksSchema = `
ALTER TABLE flows ADD COLUMN expires_at INTEGER;
UPDATE flows SET expires_at = COALESCE(
	(SELECT MAX(t.expires_at) FROM tokens t WHERE t.flow_id = flows.id AND t.kind = 'user'), created_at)
	WHERE status = '';
CREATE INDEX flows_open_expiry ON flows(expires_at) WHERE status = '';
ALTER TABLE callbacks ADD COLUMN delivery_id TEXT NOT NULL DEFAULT '';
ALTER TABLE callbacks ADD COLUMN event TEXT NOT NULL DEFAULT '';
ALTER TABLE callbacks ADD COLUMN redeliveries INTEGER NOT NULL DEFAULT 0;
UPDATE callbacks SET delivery_id = 'dlv_legacy_' || id, event = 'flow.completed';
CREATE UNIQUE INDEX callbacks_delivery ON callbacks(delivery_id);
`

// noOpenSubmissions is the condition "the flow has no submission pending
// or processing" inside a statement on flows.
const noOpenSubmissions = `NOT EXISTS (SELECT 1 FROM submissions s WHERE s.flow_id = flows.id AND s.state != 'done')`

// ExpireFlow implements gateway.Store: one conditional UPDATE inside an
// IMMEDIATE transaction, so of two gateways expiring the same flow one
// closes it and queues the callback, the other finds it closed.
func (s *Store) ExpireFlow(ctx context.Context, id string, now time.Time, cb *gateway.NewCallback) (bool, error) {
	closed := false
	err := s.tx(ctx, func(tx prepTx) error {
		var partnerID string
		err := tx.QueryRowContext(ctx, `UPDATE flows SET status = ?, reason = '', completed_at = ?
			WHERE id = ? AND status = '' AND expires_at IS NOT NULL AND expires_at <= ? AND `+noOpenSubmissions+`
			RETURNING partner_id`, api.StatusExpired, now.UnixMicro(), id, now.UnixMicro()).Scan(&partnerID)
		if errors.Is(err, sql.ErrNoRows) {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM flows WHERE id = ?`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return gateway.ErrNotFound
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("expire flow: %w", err)
		}
		closed = true
		if cb == nil {
			return nil
		}
		return storesql.QueueCallback(ctx, conn{tx}, id, partnerID, *cb, now)
	})
	return closed, err
}

// RedeliverCallback implements gateway.Store, in one transaction.
func (s *Store) RedeliverCallback(ctx context.Context, deliveryID string, when time.Time) (gateway.CallbackRecord, error) {
	var c gateway.CallbackRecord
	err := s.tx(ctx, func(tx prepTx) error {
		var err error
		c, err = storesql.RedeliverCallback(ctx, conn{tx}, dec, deliveryID, when)
		return err
	})
	return c, err
}
