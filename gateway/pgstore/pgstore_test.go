package pgstore_test

import (
	"context"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/pgstore"
	"github.com/faceverify/faceverify/gateway/pgstore/pgstoretest"
	"github.com/faceverify/faceverify/gateway/storetest"
)

// fresh is a new database on the test server; each handle is its own
// connection pool, as a separate gateway replica would have.
func fresh(t testing.TB) storetest.Opener {
	dsn := pgstoretest.DSN(t)
	return func(t testing.TB) gateway.Store {
		t.Helper()
		s, err := pgstore.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestStore(t *testing.T) {
	pgstoretest.ServerDSN(t) // skip once, not in every subtest
	storetest.Run(t, fresh)
}

func BenchmarkStore(b *testing.B) {
	pgstoretest.ServerDSN(b)
	storetest.Bench(b, fresh)
}
