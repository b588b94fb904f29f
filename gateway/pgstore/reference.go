package pgstore

import (
	"context"
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

// flowLock is the row lock storesql.FlowOpen takes on the flow.
// The flow's row is locked (FOR UPDATE), serialising the claims and
// the sealing of its reference across replicas.
const flowLock = " FOR UPDATE"

// ClaimReference implements gateway.ReferenceStore.
func (s *Store) ClaimReference(ctx context.Context, flowID, owner string, now, leaseUntil time.Time) (gateway.StoredReference, bool, error) {
	var ref gateway.StoredReference
	claimed := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		ref, claimed, err = storesql.ClaimReference(ctx, conn{tx}, dec, flowLock, flowID, owner, now, leaseUntil)
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
		return storesql.PutReference(ctx, conn{tx}, dec, flowLock, flowID, owner, sealed)
	})
	if err != nil {
		return mapErr("put reference", err)
	}
	return nil
}
