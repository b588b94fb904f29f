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

// TestDevicesReplace: a kiosk with a lost key, and a revoked one, are
// refused by add with a message naming the case and `devices replace`,
// and accepted again once replaced.
func TestDevicesReplace(t *testing.T) {
	db := filepath.Join(t.TempDir(), "gw.db")
	keyOf := func() string {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(pub)
	}
	oldKey, newKey, thirdKey := keyOf(), keyOf(), keyOf()
	steps := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string
		wantStderr []string
	}{
		{"add", []string{"add", "-db", db, "-id", "kiosk-t2", "-key", oldKey}, 0, "kiosk-t2 added", nil},
		{"add a new board's key", []string{"add", "-db", db, "-id", "kiosk-t2", "-key", newKey}, 1, "",
			[]string{"kiosk-t2 is registered with another key", "facegateway devices replace"}},
		{"replace", []string{"replace", "-db", db, "-id", "kiosk-t2", "-key", newKey}, 0, "kiosk-t2 key replaced at", nil},
		{"add the new key is idempotent", []string{"add", "-db", db, "-id", "kiosk-t2", "-key", newKey}, 0, "already registered with this key", nil},
		{"add the old key is refused", []string{"add", "-db", db, "-id", "kiosk-t2", "-key", oldKey}, 1, "", []string{"another key"}},
		{"revoke", []string{"revoke", "-db", db, "-id", "kiosk-t2"}, 0, "kiosk-t2 revoked at", nil},
		{"add a revoked id", []string{"add", "-db", db, "-id", "kiosk-t2", "-key", newKey}, 1, "",
			[]string{"kiosk-t2 is revoked", "facegateway devices replace"}},
		{"replace a revoked id", []string{"replace", "-db", db, "-id", "kiosk-t2", "-key", thirdKey}, 0, "kiosk-t2 key replaced at", nil},
		{"list shows it active", []string{"list", "-db", db}, 0, "kiosk-t2  active", nil},
		{"list json has replaced_at", []string{"list", "-db", db, "-json"}, 0, `"replaced_at"`, nil},
		{"replace unknown id", []string{"replace", "-db", db, "-id", "nope", "-key", newKey}, 1, "", []string{`no device "nope"`, "devices add"}},
		{"replace without key", []string{"replace", "-db", db, "-id", "kiosk-t2"}, 2, "", []string{"-id and -key are required"}},
		{"replace with a bad key", []string{"replace", "-db", db, "-id", "kiosk-t2", "-key", "abc"}, 2, "", []string{"public_key"}},
	}
	for _, st := range steps {
		var out, errw bytes.Buffer
		code := realMain(append([]string{"devices"}, st.args...), &out, &errw)
		if code != st.wantCode || !strings.Contains(out.String(), st.wantOut) {
			t.Errorf("%s: exit %d, stdout %q stderr %q; want exit %d and %q", st.name, code, out.String(), errw.String(), st.wantCode, st.wantOut)
		}
		for _, w := range st.wantStderr {
			if !strings.Contains(errw.String(), w) {
				t.Errorf("%s: stderr %q does not contain %q", st.name, errw.String(), w)
			}
		}
	}
	var out, errw bytes.Buffer
	if code := realMain([]string{"devices", "list", "-db", db, "-json"}, &out, &errw); code != 0 || strings.Contains(out.String(), strings.TrimRight(newKey, "=")) ||
		!strings.Contains(out.String(), thirdKey) {
		t.Errorf("after the last replace, list -json = %q (exit %d); want the third key only", out.String(), code)
	}
}
