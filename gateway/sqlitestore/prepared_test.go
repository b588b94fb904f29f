package sqlitestore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
)

// The store's queries are prepared once per text and reused; past
// maxPrepared texts, queries still run (unprepared); a bad query reports
// its error and is not kept.
func TestStatementsPreparedOnce(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "gw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Unix(1_700_000_000, 0).UTC()
	tok := gateway.Token{Hash: sha256.Sum256([]byte("t")), Kind: gateway.TokenUser, PartnerID: "p", ExpiresAt: now.Add(time.Hour)}
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	base := s.stmts.len()
	for range 5 {
		if _, err := s.LookupToken(ctx, tok.Hash, now); err != nil {
			t.Fatal(err)
		}
		if err := s.PutToken(ctx, gateway.Token{Hash: sha256.Sum256([]byte(fmt.Sprint(now))), Kind: gateway.TokenPartner, PartnerID: "p", ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
	}
	if got := s.stmts.len(); got != base+1 { // LookupToken's one text; PutToken's were kept by the first call
		t.Errorf("%d statements kept after repeated calls, want %d", got, base+1)
	}

	if _, err := s.pdb.ExecContext(ctx, "SELECT no_such_column FROM tokens"); err == nil {
		t.Error("bad query: no error")
	}
	if got := s.stmts.len(); got != base+1 {
		t.Errorf("bad query kept: %d statements", got)
	}

	for i := s.stmts.len(); i < maxPrepared+10; i++ {
		var n int
		if err := s.pdb.QueryRowContext(ctx, fmt.Sprintf("SELECT %d", i)).Scan(&n); err != nil || n != i {
			t.Fatalf("query %d: %d, %v", i, n, err)
		}
	}
	if got := s.stmts.len(); got != maxPrepared {
		t.Errorf("%d statements kept, want the bound %d", got, maxPrepared)
	}
	if _, err := s.LookupToken(ctx, sha256.Sum256([]byte("none")), now); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("lookup of a missing token: %v", err)
	}
}
