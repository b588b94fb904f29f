package pgstore_test

import (
	"context"
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
	if _, err := s.AppendAudit(ctx, gateway.AuditEntry{At: storetest.T0, Actor: "operator:x", Action: gateway.AuditDeviceAdd, Subject: "kiosk-1"}); err != nil {
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
	var v gateway.AuditVerifier
	if err := v.Next(got); err != nil {
		t.Error(err)
	}
}
