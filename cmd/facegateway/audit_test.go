package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/gateway"
)

// TestAuditCommand: operator commands are recorded; `audit list` prints
// them and `-verify` checks the keyed chain: it cannot verify without the
// audit key, and fails once the triggers are dropped, or a row is deleted
// and the chain recomputed without the key behind the triggers' back.
func TestAuditCommand(t *testing.T) {
	t.Setenv(gateway.EnvAuditKey, "cli-audit-secret-0123456789")
	db := filepath.Join(t.TempDir(), "gw.db")
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key := base64.StdEncoding.EncodeToString(pub)
	run := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		code := realMain(args, &out, &errw)
		return code, out.String(), errw.String()
	}
	for _, args := range [][]string{
		{"devices", "add", "-db", db, "-id", "kiosk-1", "-key", key},
		{"devices", "add", "-db", db, "-id", "kiosk-1", "-key", key}, // already registered: no row
		{"devices", "revoke", "-db", db, "-id", "kiosk-1"},
		{"devices", "replace", "-db", db, "-id", "kiosk-1", "-key", key},
	} {
		if code, _, errs := run(args...); code != 0 {
			t.Fatalf("%v: exit %d %s", args, code, errs)
		}
	}
	code, out, errs := run("audit", "list", "-db", db, "-json")
	if code != 0 {
		t.Fatalf("audit list: %d %s", code, errs)
	}
	var actions []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var row auditJSON
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if !strings.HasPrefix(row.Actor, "operator:") || row.Subject != "kiosk-1" || len(row.Hash) != 64 {
			t.Errorf("row %+v", row)
		}
		actions = append(actions, row.Action)
	}
	want := []string{gateway.AuditDeviceAdd, gateway.AuditDeviceRevoke, gateway.AuditDeviceReplace}
	if strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Errorf("actions %v, want %v", actions, want)
	}
	if code, out, errs := run("audit", "list", "-db", db, "-after", "1", "-limit", "1"); code != 0 || !strings.Contains(out, gateway.AuditDeviceRevoke) || strings.Contains(out, gateway.AuditDeviceReplace) {
		t.Errorf("paged list: %d %q %s", code, out, errs)
	}
	if code, out, _ := run("audit", "list", "-db", db, "-verify"); code != 0 || !strings.Contains(out, "verified: 3 rows") {
		t.Errorf("verify: %d %q", code, out)
	}
	t.Run("no key", func(t *testing.T) {
		t.Setenv(gateway.EnvAuditKey, "")
		if code, out, errs := run("audit", "list", "-db", db, "-verify"); code != 1 || strings.Contains(out, "verified") || !strings.Contains(errs, "cannot verify") {
			t.Errorf("verify without the key: exit %d, %q %q", code, out, errs)
		}
	})
	// Tamper as the database owner can: drop the triggers, delete a row,
	// recompute the chain (without the key), restore the triggers.
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var triggers []string
	rows, err := raw.Query(`SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var q string
		rows.Scan(&q)
		triggers = append(triggers, q)
	}
	rows.Close()
	if len(triggers) != 3 {
		t.Fatalf("triggers %q", triggers)
	}
	if _, err := raw.Exec(`DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; DROP TRIGGER audit_log_append`); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run("audit", "list", "-db", db, "-verify"); code != 1 || !strings.Contains(errs, "missing") {
		t.Errorf("verify without triggers: exit %d, stderr %q; want 1 naming the missing trigger", code, errs)
	}
	store := openTestStore(t, db)
	all, err := store.AuditLog(context.Background(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM audit_log`); err != nil {
		t.Fatal(err)
	}
	var prev []byte
	for i, e := range append(all[:1:1], all[2:]...) {
		e = gateway.ChainAudit(nil, int64(i), prev, e)
		prev = e.Hash
		if _, err := raw.Exec(`INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Seq, e.At.UnixMicro(), e.Actor, e.Action, e.Subject, e.Detail, e.PrevHash, e.Hash); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range triggers {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errs := run("audit", "list", "-db", db, "-verify"); code != 1 || strings.Contains(out, "verified") || !strings.Contains(errs, "seq 1") {
		t.Errorf("verify after rewriting: exit %d, %q, stderr %q; want 1 naming seq 1", code, out, errs)
	}
	if code, _, _ := run("audit", "frobnicate"); code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
}

func openTestStore(t *testing.T, path string) gateway.Store {
	t.Helper()
	s, err := openStore(context.Background(), gateway.DatabaseConfig{Driver: gateway.DriverSQLite, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
