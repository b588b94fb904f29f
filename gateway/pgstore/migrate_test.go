package pgstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/faceverify/faceverify/gateway/pgstore"
	"github.com/faceverify/faceverify/gateway/pgstore/pgstoretest"
)

// TestConcurrentMigrate: replicas starting together on an empty database
// all open it (the advisory lock makes one migrate, the others wait), and
// the schema is recorded once at the current version.
func TestConcurrentMigrate(t *testing.T) {
	dsn := pgstoretest.DSN(t)
	ctx := context.Background()
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			s, err := pgstore.Open(ctx, dsn)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows, version int
	if err := conn.QueryRow(ctx, `SELECT count(*), max(version) FROM schema_version`).Scan(&rows, &version); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || version != pgstore.Version() {
		t.Errorf("schema_version: %d rows, version %d; want 1 row at %d", rows, version, pgstore.Version())
	}
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()
		AND tablename IN ('tokens', 'flows', 'submissions', 'callbacks', 'devices')`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 5 {
		t.Errorf("%d of 5 tables created", tables)
	}
}

// TestOpenErrors: a bad DSN or an unreachable server is an error that does
// not quote the password.
func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		dsn  string
	}{
		{"unreachable", "postgres://fg:pw-not-shown@127.0.0.1:1/fg?sslmode=disable&connect_timeout=5"},
		{"malformed", "postgres://fg:pw-not-shown@127.0.0.1:port/fg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := pgstore.Open(context.Background(), tt.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), "pw-not-shown") {
				t.Errorf("error quotes the password: %v", err)
			}
		})
	}
}
