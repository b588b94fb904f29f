package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
)

func TestDevicesCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "gw.db")
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key := base64.StdEncoding.EncodeToString(pub)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	steps := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"add", []string{"add", "-db", db, "-id", "kiosk-1", "-key", key, "-label", "lobby"}, 0, "kiosk-1 added (SHA256:"},
		{"add again, same key", []string{"add", "-db", db, "-id", "kiosk-1", "-key", key}, 0, "already registered"},
		{"add another key under the id", []string{"add", "-db", db, "-id", "kiosk-1", "-key", base64.StdEncoding.EncodeToString(other)}, 1, ""},
		{"bad key", []string{"add", "-db", db, "-id", "kiosk-2", "-key", "abc"}, 2, ""},
		{"missing id", []string{"add", "-db", db, "-key", key}, 2, ""},
		{"list", []string{"list", "-db", db}, 0, "kiosk-1  active"},
		{"revoke", []string{"revoke", "-db", db, "-id", "kiosk-1"}, 0, "kiosk-1 revoked at"},
		{"revoke unknown", []string{"revoke", "-db", db, "-id", "nope"}, 1, ""},
		{"list json", []string{"list", "-db", db, "-json"}, 0, `"revoked_at"`},
		{"re-add a revoked id", []string{"add", "-db", db, "-id", "kiosk-1", "-key", key}, 1, ""},
		{"unknown command", []string{"frobnicate", "-db", db}, 2, ""},
	}
	for _, st := range steps {
		var out, errw bytes.Buffer
		code := realMain(append([]string{"devices"}, st.args...), &out, &errw)
		if code != st.wantCode || !strings.Contains(out.String(), st.wantOut) {
			t.Errorf("%s: exit %d, stdout %q stderr %q; want exit %d and %q", st.name, code, out.String(), errw.String(), st.wantCode, st.wantOut)
		}
	}
}
