package sqlitestore

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
)

// TestMigrateFlowDeadlines: a database of schema version 3 (before flow
// deadlines and delivery ids) is migrated so that its open flows get the
// expiry of their latest user token, or their creation time when every
// token is gone, and its callbacks get distinct delivery ids.
func TestMigrateFlowDeadlines(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	stmts := append([]string(nil), schema[:3]...)
	stmts = append(stmts, `PRAGMA user_version = 3`,
		`INSERT INTO flows (id, partner_id, correlation_id, partner_user_id, partner_user_id_type, kind, status, created_at)
		 VALUES ('with-token', 'p', 'c1', 'u', 'account', 'selfie', '', `+itoa(t0)+`),
		        ('no-token', 'p', 'c2', 'u', 'account', 'selfie', '', `+itoa(t0)+`),
		        ('decided', 'p', 'c3', 'u', 'account', 'selfie', 'VERIFIED', `+itoa(t0)+`)`,
		`INSERT INTO tokens (hash, kind, partner_id, flow_id, expires_at) VALUES
		 (x'01', 'user', 'p', 'with-token', `+itoa(t0.Add(15*time.Minute))+`),
		 (x'02', 'user', 'p', 'with-token', `+itoa(t0.Add(20*time.Minute))+`)`,
		`INSERT INTO callbacks (flow_id, partner_id, body, state, next_at, created_at) VALUES
		 ('decided', 'p', x'7b7d', 'delivered', 0, 0), ('decided', 'p', x'7b7d', 'failed', 0, 0)`)
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
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
	cbs, err := s.Callbacks(ctx, gateway.CallbackFilter{})
	if err != nil || len(cbs) != 2 || cbs[0].DeliveryID == cbs[1].DeliveryID || cbs[0].DeliveryID == "" || cbs[0].Event != "flow.completed" {
		t.Errorf("migrated callbacks = %+v %v", cbs, err)
	}
	if _, err := s.RedeliverCallback(ctx, cbs[1].DeliveryID, t0); err != nil {
		t.Errorf("redeliver a migrated callback: %v", err)
	}
}

// itoa is t as the store's column value (Unix microseconds).
func itoa(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }
