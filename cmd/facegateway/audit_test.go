package main

import (
	"bytes"
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
// them and `-verify` checks the chain, and fails once a row is altered
// behind the triggers' back.
func TestAuditCommand(t *testing.T) {
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
	// Tamper: drop the trigger (as the database owner could) and edit a row.
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DROP TRIGGER audit_log_no_update; UPDATE audit_log SET subject = 'kiosk-9' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run("audit", "list", "-db", db, "-verify"); code != 1 || !strings.Contains(errs, "seq 2") {
		t.Errorf("verify after tampering: exit %d, stderr %q; want 1 naming seq 2", code, errs)
	}
	if code, _, _ := run("audit", "frobnicate"); code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
}
