// Package pgstoretest gives tests a fresh PostgreSQL database of their own
// on the server named by $FACEVERIFY_TEST_POSTGRES (.ci/run starts one from
// Debian's postgresql package and sets the variable).
package pgstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faceverify/faceverify/internal/testenv"
)

// EnvDSN names the variable holding the test server's DSN, a superuser
// (or CREATEDB role) connection string such as
// "postgres://postgres:PASSWORD@127.0.0.1:15432/postgres?sslmode=disable".
const EnvDSN = "FACEVERIFY_TEST_POSTGRES"

// ServerDSN returns $FACEVERIFY_TEST_POSTGRES, skipping t when it is unset
// (failing it in CI: testenv.Missing).
func ServerDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		testenv.Missing(t, "PostgreSQL tests need a server: install Debian's postgresql package and set %s to a DSN (.ci/run does both)", EnvDSN)
	}
	return dsn
}

// DSN creates an empty database on the test server, drops it (closing any
// connection left to it) when t ends, and returns its DSN. It skips t when
// $FACEVERIFY_TEST_POSTGRES is unset and fails t when the server cannot be
// reached.
func DSN(t testing.TB) string {
	t.Helper()
	server := ServerDSN(t)
	var b [6]byte
	rand.Read(b[:])
	name := "fvtest_" + hex.EncodeToString(b[:])
	if err := admin(server, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8'`); err != nil {
		t.Fatalf("%s is set but: %v", EnvDSN, err)
	}
	t.Cleanup(func() {
		if err := admin(server, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	dsn, err := WithDatabase(server, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// WithDatabase returns dsn (URL or key=value form) naming database name.
func WithDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("%s: not a URL", EnvDSN) // the URL may hold a password: not echoed
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	return dsn + " dbname=" + name, nil // a later keyword wins
}

// admin runs one statement on the server's default database.
func admin(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", strings.Fields(sql)[0]+" "+strings.Fields(sql)[1], err)
	}
	return nil
}
