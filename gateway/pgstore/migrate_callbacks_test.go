package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/pgstore/pgstoretest"
)

// TestMigrateFlowDeadlines: a database of schema version 2 (before flow
// deadlines and delivery ids) is migrated so that its open flows get the
// expiry of their latest user token, or their creation time when every
// token is gone, and its callbacks get distinct delivery ids; a replica of
// the previous release can still queue callbacks (the new columns have
// defaults).
func TestMigrateFlowDeadlines(t *testing.T) {
	dsn := pgstoretest.DSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	stmts := append([]string(nil), schema[:2]...)
	stmts = append(stmts, `CREATE TABLE schema_version (version integer NOT NULL); INSERT INTO schema_version VALUES (2)`)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO flows (id, partner_id, correlation_id, partner_user_id, partner_user_id_type, kind, status, created_at)
		  VALUES ('with-token', 'p', 'c1', 'u', 'account', 'selfie', '', $1), ('no-token', 'p', 'c2', 'u', 'account', 'selfie', '', $1),
		         ('decided', 'p', 'c3', 'u', 'account', 'selfie', 'VERIFIED', $1)`, []any{t0}},
		{`INSERT INTO tokens (hash, kind, partner_id, flow_id, expires_at) VALUES
		  ('\x01', 'user', 'p', 'with-token', $1), ('\x02', 'user', 'p', 'with-token', $2)`, []any{t0.Add(15 * time.Minute), t0.Add(20 * time.Minute)}},
		{`INSERT INTO callbacks (flow_id, partner_id, body, state, next_at, created_at) VALUES
		  ('decided', 'p', '\x7b7d', 'delivered', $1, $1), ('decided', 'p', '\x7b7d', 'failed', $1, $1)`, []any{t0}},
	} {
		if _, err := conn.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}

	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for id, want := range map[string]time.Time{"with-token": t0.Add(20 * time.Minute), "no-token": t0, "decided": {}} {
		f, err := s.FlowByID(ctx, id)
		if err != nil || !f.ExpiresAt.Equal(want) {
			t.Errorf("%s: ExpiresAt %v (%v), want %v", id, f.ExpiresAt, err, want)
		}
	}
	// A replica of the previous release inserts without the new columns.
	if _, err := conn.Exec(ctx, `INSERT INTO callbacks (flow_id, partner_id, body, state, next_at, created_at)
		VALUES ('decided', 'p', '\x7b7d', 'pending', $1, $1)`, t0); err != nil {
		t.Fatalf("old-release insert: %v", err)
	}
	cbs, err := s.Callbacks(ctx, gateway.CallbackFilter{})
	if err != nil || len(cbs) != 3 {
		t.Fatalf("callbacks = %+v %v", cbs, err)
	}
	ids := map[string]bool{}
	for _, c := range cbs {
		if len(c.DeliveryID) < 20 || c.Event != "flow.completed" {
			t.Errorf("migrated callback %d: delivery id %q, event %q", c.ID, c.DeliveryID, c.Event)
		}
		ids[c.DeliveryID] = true
	}
	if len(ids) != 3 {
		t.Errorf("delivery ids not distinct: %v", ids)
	}
}
