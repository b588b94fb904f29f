package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/pgstore"
	"github.com/faceverify/faceverify/gateway/pgstore/pgstoretest"
	"github.com/faceverify/faceverify/gateway/storetest"
)

// TestAuditAppendOnly: the table's triggers refuse UPDATE, DELETE,
// TRUNCATE, an upsert and an out-of-sequence INSERT, even for the table's
// owner on a connection of its own.
func TestAuditAppendOnly(t *testing.T) {
	dsn := pgstoretest.DSN(t)
	ctx := context.Background()
	s, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AppendAudit(ctx, storetest.AuditKey, gateway.AuditEntry{At: storetest.T0, Actor: "operator:x", Action: gateway.AuditDeviceAdd, Subject: "kiosk-1"}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		`UPDATE audit_log SET subject = 'kiosk-2'`,
		`DELETE FROM audit_log`,
		`TRUNCATE audit_log`,
		`INSERT INTO audit_log (seq, at, actor, action, prev_hash, hash) VALUES (1, now(), 'x', 'y', '', '')
			ON CONFLICT (seq) DO UPDATE SET subject = 'kiosk-2'`,
		`INSERT INTO audit_log (seq, at, actor, action, prev_hash, hash) VALUES (5, now(), 'x', 'y', '', '')`,
	} {
		if _, err := conn.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused", strings.Fields(stmt)[0], err)
		}
	}
	got, err := s.AuditLog(ctx, 0, 10)
	if err != nil || len(got) != 1 || got[0].Subject != "kiosk-1" {
		t.Fatalf("audit log after refused changes: %+v %v", got, err)
	}
	v := gateway.AuditVerifier{Key: storetest.AuditKey}
	if err := v.Next(got); err != nil {
		t.Error(err)
	}
}

// TestAuditGuardsChecked: CheckAuditGuards reports a disabled trigger, a
// guard function replaced by a no-op and a dropped trigger.
func TestAuditGuardsChecked(t *testing.T) {
	dsn := pgstoretest.DSN(t)
	ctx := context.Background()
	s, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CheckAuditGuards(ctx); err != nil {
		t.Fatalf("fresh database: %v", err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, step := range []struct{ sql, want string }{
		{`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change`, "audit_log_no_change is disabled"},
		{`ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change;
		  CREATE OR REPLACE FUNCTION audit_log_next_seq() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
			"audit_log_append runs an altered function"},
		{`DROP TRIGGER audit_log_append ON audit_log`, "audit_log_append is missing"},
	} {
		if _, err := conn.Exec(ctx, step.sql); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckAuditGuards(ctx); !errors.Is(err, gateway.ErrAuditUnguarded) || !strings.Contains(err.Error(), step.want) {
			t.Errorf("after %q: %v, want %q", strings.Fields(step.sql)[0], err, step.want)
		}
	}
}
