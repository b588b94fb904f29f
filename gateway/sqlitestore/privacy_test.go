package sqlitestore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/sqlitestore"
	"github.com/faceverify/faceverify/gateway/storetest"
)

func open(t *testing.T, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestFileModes: the database, -wal and -shm are 0600 whatever the umask,
// and an existing world-readable database is tightened on open.
func TestFileModes(t *testing.T) {
	for _, umask := range []int{0, 0o022, 0o077} {
		t.Run(fmt.Sprintf("umask %03o", umask), func(t *testing.T) {
			old := syscall.Umask(umask)
			defer syscall.Umask(old)
			path := filepath.Join(t.TempDir(), "gw.db")
			s := open(t, path)
			storetest.Flow(t, s, "f1") // a write, so the WAL has content
			checkModes(t, path, 0o600)
		})
	}
	t.Run("existing 0644 database", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gw.db")
		s := open(t, path)
		s.Close()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			os.Chmod(p, 0o644) // absent files are fine
		}
		s = open(t, path)
		storetest.Flow(t, s, "f1")
		checkModes(t, path, 0o600)
	})
}

func checkModes(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
			continue
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(p), st.Mode().Perm(), want)
		}
	}
}

// TestAuditAppendOnly: the table's triggers refuse UPDATE and DELETE,
// even through a connection of its own.
func TestAuditAppendOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.db")
	s := open(t, path)
	ctx := context.Background()
	if _, err := s.AppendAudit(ctx, storetest.AuditKey, gateway.AuditEntry{At: storetest.T0, Actor: "operator:x", Action: gateway.AuditDeviceAdd, Subject: "kiosk-1"}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		`UPDATE audit_log SET subject = 'kiosk-2'`,
		`DELETE FROM audit_log`,
		`DELETE FROM audit_log WHERE seq = 1`,
		`INSERT OR REPLACE INTO audit_log (seq, at, actor, action, prev_hash, hash) VALUES (1, 0, 'x', 'y', x'', x'')`,
		`INSERT INTO audit_log (seq, at, actor, action, prev_hash, hash) VALUES (5, 0, 'x', 'y', x'', x'')`,
	} {
		if _, err := db.Exec(stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused", stmt, err)
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

// TestErasedRowsLeaveNoTrace: after EraseUser the user id is found in
// neither the database file nor its WAL (secure_delete zeroes the freed
// cells, the WAL is checkpointed and truncated).
func TestErasedRowsLeaveNoTrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.db")
	s := open(t, path)
	ctx := context.Background()
	const user = "erase-me-4711-0815-user-id"
	for i, id := range []string{"f1", "f2", "f3"} {
		if _, _, err := s.CreateFlow(ctx, gateway.Flow{ID: id, PartnerID: "p", CorrelationID: id, PartnerUserID: user,
			PartnerUserIDType: "account", Kind: api.FlowSelfie, CreatedAt: storetest.T0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	storetest.Flow(t, s, "keep")
	if found := grep(t, path, user); len(found) == 0 {
		t.Fatal("control: the user id is not in the files before erasure, so the scan proves nothing")
	}
	e, err := s.EraseUser(ctx, "p", "account", user)
	if err != nil || e.Flows != 3 {
		t.Fatalf("EraseUser = %+v %v", e, err)
	}
	if found := grep(t, path, user); len(found) > 0 {
		t.Errorf("erased user id still in %v", found)
	}
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() != 0 {
		t.Errorf("WAL is %d bytes after erasure, want truncated", st.Size())
	}
}

// grep lists the database files holding s.
func grep(t *testing.T, path, s string) []string {
	t.Helper()
	var found []string
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			found = append(found, filepath.Base(p))
		}
	}
	return found
}

// TestAuditRewriteDetected is the rewrite of a copied database: the
// triggers dropped, the user.erase rows deleted and the chain recomputed
// with the (public) row digest. The keyed chain no longer verifies, and
// CheckAuditGuards names the missing trigger; a trigger recreated as a
// no-op is reported altered.
func TestAuditRewriteDetected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.db")
	s := open(t, path)
	ctx := context.Background()
	for i, action := range []string{gateway.AuditUserToken, gateway.AuditUserErased, gateway.AuditDetailsRead, gateway.AuditUserErased} {
		if _, err := s.AppendAudit(ctx, storetest.AuditKey, gateway.AuditEntry{At: storetest.T0.Add(time.Duration(i) * time.Second),
			Actor: "partner:p", Action: action, Subject: fmt.Sprint("s", i)}); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{`DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`, `DROP TRIGGER audit_log_append`,
		`DELETE FROM audit_log WHERE action = 'user.erase'`} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CheckAuditGuards(ctx); !errors.Is(err, gateway.ErrAuditUnguarded) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("CheckAuditGuards without triggers = %v", err)
	}
	kept, err := s.AuditLog(ctx, 0, 10)
	if err != nil || len(kept) != 2 {
		t.Fatalf("rows kept: %d %v", len(kept), err)
	}
	// Recompute the chain as someone without the key can: unkeyed, or
	// under a key of their own.
	for _, forger := range []gateway.AuditKey{nil, gateway.NewAuditKey("a-key-the-attacker-chose-0123")} {
		if _, err := db.Exec(`DELETE FROM audit_log`); err != nil {
			t.Fatal(err)
		}
		var prev []byte
		for i, e := range kept {
			e = gateway.ChainAudit(forger, int64(i), prev, e)
			prev = e.Hash
			if _, err := db.Exec(`INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				e.Seq, e.At.UnixMicro(), e.Actor, e.Action, e.Subject, e.Detail, e.PrevHash, e.Hash); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.AuditLog(ctx, 0, 10)
		if err != nil || len(got) != 2 {
			t.Fatalf("rewritten log: %d rows, %v", len(got), err)
		}
		v := gateway.AuditVerifier{Key: storetest.AuditKey}
		err = v.Next(got)
		want := gateway.ErrAuditChain
		if forger == nil {
			want = gateway.ErrAuditUnkeyed
		}
		if !errors.Is(err, want) {
			t.Errorf("rewritten chain (forger key %v): %v, want %v", forger != nil, err, want)
		}
	}
	for _, stmt := range []string{
		`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT 1; END`,
		`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
		`CREATE TRIGGER audit_log_append BEFORE INSERT ON audit_log
WHEN NEW.seq <> COALESCE((SELECT MAX(seq) FROM audit_log), 0) + 1
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: seq must follow the last row'); END`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CheckAuditGuards(ctx); !errors.Is(err, gateway.ErrAuditUnguarded) || !strings.Contains(err.Error(), "audit_log_no_update was altered") {
		t.Errorf("CheckAuditGuards with a no-op trigger = %v", err)
	}
}
