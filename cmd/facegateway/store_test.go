package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/pgstore/pgstoretest"
)

// TestDevicesOnPostgres runs `facegateway devices` against a PostgreSQL
// [database]: once with the password from FACEGATEWAY_DATABASE_PASSWORD,
// once with the whole DSN in dsn_file; both see the same registry.
func TestDevicesOnPostgres(t *testing.T) {
	dsn := pgstoretest.DSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s must be a postgres:// URL for this test", pgstoretest.EnvDSN)
	}
	password, _ := u.User.Password()
	u.User = url.User(u.User.Username())
	dir := t.TempDir()
	withEnv := filepath.Join(dir, "env.toml")
	write(t, withEnv, "[database]\ndriver = \"postgres\"\ndsn = \""+u.String()+"\"\n")
	dsnFile := filepath.Join(dir, "dsn")
	write(t, dsnFile, dsn+"\n")
	withFile := filepath.Join(dir, "file.toml")
	write(t, withFile, "[database]\ndriver = \"postgres\"\ndsn_file = \""+dsnFile+"\"\n")

	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key := base64.StdEncoding.EncodeToString(pub)
	run := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		code := realMain(append([]string{"devices"}, args...), &out, &errw)
		return code, out.String(), errw.String()
	}

	t.Setenv(gateway.EnvDatabasePassword, "wrong-password")
	if code, _, stderr := run("list", "-config", withEnv); code != 1 || strings.Contains(stderr, "wrong-password") {
		t.Errorf("wrong password: exit %d, stderr %q; want 1 without the password", code, stderr)
	}
	t.Setenv(gateway.EnvDatabasePassword, password)
	if code, out, stderr := run("add", "-config", withEnv, "-id", "kiosk-1", "-key", key, "-label", "lobby"); code != 0 || !strings.Contains(out, "kiosk-1 added") {
		t.Fatalf("add: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	t.Setenv(gateway.EnvDatabasePassword, "")
	if code, out, stderr := run("list", "-config", withFile); code != 0 || !strings.Contains(out, "kiosk-1  active") || !strings.Contains(out, "lobby") {
		t.Errorf("list via dsn_file: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if code, out, stderr := run("revoke", "-config", withFile, "-id", "kiosk-1"); code != 0 || !strings.Contains(out, "kiosk-1 revoked at") {
		t.Errorf("revoke: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

// TestDevicesRefusesPasswordInConfig: a DSN with a password in the config
// file is refused before connecting, without echoing it.
func TestDevicesRefusesPasswordInConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "gw.toml")
	write(t, cfg, "[database]\ndriver = \"postgres\"\ndsn = \"postgres://fg:hunter2-secret@127.0.0.1:1/fg\"\n")
	var out, errw bytes.Buffer
	code := realMain([]string{"devices", "list", "-config", cfg}, &out, &errw)
	if code != 2 || !strings.Contains(errw.String(), "database.dsn: must not hold a password") || strings.Contains(errw.String(), "hunter2") {
		t.Errorf("exit %d, stderr %q", code, errw.String())
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
