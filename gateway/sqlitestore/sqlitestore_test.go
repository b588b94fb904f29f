package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/sqlitestore"
	"github.com/faceverify/faceverify/gateway/storetest"
)

// fresh is a new database file in t's temporary directory; each handle is
// its own *sql.DB on that file, as a separate gateway process would have.
func fresh(t testing.TB) storetest.Opener {
	path := filepath.Join(t.TempDir(), "gw.db")
	return func(t testing.TB) gateway.Store {
		t.Helper()
		s, err := sqlitestore.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestStore(t *testing.T) { storetest.Run(t, fresh) }

func BenchmarkStore(b *testing.B) { storetest.Bench(b, fresh) }
