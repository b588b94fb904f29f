package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/storesql"
)

var _ gateway.ReferenceStore = (*Store)(nil)

// referencesSchema is the schema version that keeps each open flow's
// analysed reference (sealed) so every attempt and replica reuses one
// fetch: a row is deleted with its flow and as soon as the flow closes.
const referencesSchema = `
CREATE TABLE flow_references (
	flow_id     text COLLATE "C" PRIMARY KEY REFERENCES flows (id) ON DELETE CASCADE,
	sealed      bytea,
	lease_owner text NOT NULL DEFAULT '',
	lease_until timestamptz NOT NULL DEFAULT 'epoch'
);
CREATE FUNCTION flow_references_closed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM flow_references WHERE flow_id = NEW.id;
	RETURN NULL;
END $$;
CREATE TRIGGER flow_references_closed AFTER UPDATE OF status ON flows
FOR EACH ROW WHEN (NEW.status <> '') EXECUTE FUNCTION flow_references_closed();
`

// lockOpenFlow locks the flow's row (serialising claims of its reference)
// and returns ErrNotFound or ErrFlowFinal for a flow that cannot hold a
// reference.
func lockOpenFlow(ctx context.Context, tx pgx.Tx, flowID string) error {
	var status string
	err := tx.QueryRow(ctx, `SELECT status FROM flows WHERE id = $1 FOR UPDATE`, flowID).Scan(&status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
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
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockOpenFlow(ctx, tx, flowID); err != nil {
			return err
		}
		var err error
		ref, claimed, err = storesql.ClaimReference(ctx, conn{tx}, dec, flowID, owner, now, leaseUntil)
		return err
	})
	if err != nil {
		return gateway.StoredReference{}, false, mapErr("claim reference", err)
	}
	return ref, claimed, nil
}

// PutReference implements gateway.ReferenceStore.
func (s *Store) PutReference(ctx context.Context, flowID, owner string, sealed []byte) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockOpenFlow(ctx, tx, flowID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE flow_references SET sealed = $1, lease_owner = '', lease_until = 'epoch'
			WHERE flow_id = $2 AND lease_owner = $3 AND sealed IS NULL`, sealed, flowID, owner)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return gateway.ErrLeaseLost
		}
		return nil
	})
	if err != nil {
		return mapErr("put reference", err)
	}
	return nil
}

// ReleaseReference implements gateway.ReferenceStore.
func (s *Store) ReleaseReference(ctx context.Context, flowID, owner string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM flow_references WHERE flow_id = $1 AND lease_owner = $2 AND sealed IS NULL`, flowID, owner); err != nil {
		return mapErr("release reference", err)
	}
	return nil
}
