package sqlitestore

import (
	"context"
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

// flowLock is the row lock storesql.FlowOpen takes on the flow.
// The IMMEDIATE transaction holds the database's write lock, so no
// row lock is taken.
const flowLock = ""

// ClaimReference implements gateway.ReferenceStore.
func (s *Store) ClaimReference(ctx context.Context, flowID, owner string, now, leaseUntil time.Time) (gateway.StoredReference, bool, error) {
	var ref gateway.StoredReference
	claimed := false
	err := s.tx(ctx, func(tx prepTx) error {
		var err error
		ref, claimed, err = storesql.ClaimReference(ctx, conn{tx}, dec, flowLock, flowID, owner, now, leaseUntil)
		return err
	})
	if err != nil {
		return gateway.StoredReference{}, false, fmt.Errorf("claim reference: %w", err)
	}
	return ref, claimed, nil
}

// PutReference implements gateway.ReferenceStore.
func (s *Store) PutReference(ctx context.Context, flowID, owner string, sealed []byte) error {
	err := s.tx(ctx, func(tx prepTx) error {
		return storesql.PutReference(ctx, conn{tx}, dec, flowLock, flowID, owner, sealed)
	})
	if err != nil {
		return fmt.Errorf("put reference: %w", err)
	}
	return nil
}
