package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/storesql"
)

var _ gateway.ReferenceStore = (*Store)(nil)

// referencesSchema is the schema version that keeps each open flow's
// analysed reference (sealed) so every attempt and replica reuses one
// fetch: a row is deleted with its flow and as soon as the flow closes.
const referencesSchema = `
CREATE TABLE flow_references (
	flow_id     TEXT PRIMARY KEY REFERENCES flows(id) ON DELETE CASCADE,
	sealed      BLOB,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until INTEGER NOT NULL DEFAULT 0
);
CREATE TRIGGER flow_references_closed AFTER UPDATE OF status ON flows
WHEN NEW.status <> ''
BEGIN DELETE FROM flow_references WHERE flow_id = NEW.id; END;
`

// flowOpen returns ErrNotFound or ErrFlowFinal for a flow that cannot hold
// a reference.
func flowOpen(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, flowID string) error {
	var status string
	err := q.QueryRowContext(ctx, `SELECT status FROM flows WHERE id = ?`, flowID).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return gateway.ErrNotFound
	case err != nil:
		return err
	case status != "":
		return gateway.ErrFlowFinal
	}
	return nil
}

// ClaimReference implements gateway.ReferenceStore.
func (s *Store) ClaimReference(ctx context.Context, flowID, owner string, now, leaseUntil time.Time) (gateway.StoredReference, bool, error) {
	var ref gateway.StoredReference
	claimed := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := flowOpen(ctx, tx, flowID); err != nil {
			return err
		}
		var err error
		ref, claimed, err = storesql.ClaimReference(ctx, conn{tx}, dec, flowID, owner, now, leaseUntil)
		return err
	})
	if err != nil {
		return gateway.StoredReference{}, false, fmt.Errorf("claim reference: %w", err)
	}
	return ref, claimed, nil
}

// PutReference implements gateway.ReferenceStore.
func (s *Store) PutReference(ctx context.Context, flowID, owner string, sealed []byte) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE flow_references SET sealed = ?, lease_owner = '', lease_until = 0
			WHERE flow_id = ? AND lease_owner = ? AND sealed IS NULL`, sealed, flowID, owner)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		if err := flowOpen(ctx, tx, flowID); err != nil {
			return err
		}
		return gateway.ErrLeaseLost
	})
	if err != nil {
		return fmt.Errorf("put reference: %w", err)
	}
	return nil
}

// ReleaseReference implements gateway.ReferenceStore.
func (s *Store) ReleaseReference(ctx context.Context, flowID, owner string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM flow_references WHERE flow_id = ? AND lease_owner = ? AND sealed IS NULL`, flowID, owner); err != nil {
		return fmt.Errorf("release reference: %w", err)
	}
	return nil
}
