package sqlitestore_test

import (
	"bytes"
	"context"
	"database/sql"
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
	if _, err := s.AppendAudit(ctx, gateway.AuditEntry{At: storetest.T0, Actor: "operator:x", Action: gateway.AuditDeviceAdd, Subject: "kiosk-1"}); err != nil {
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
	var v gateway.AuditVerifier
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
