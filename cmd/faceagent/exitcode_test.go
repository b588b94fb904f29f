package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExitCode(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"runtime error", errors.New("api listen: address in use"), 1},
		{"setup error", setupError(errors.New("spool.dir: permission denied")), 2},
		{"wrapped setup error", fmt.Errorf("start: %w", setupError(errors.New("x"))), 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(tc.err); got != tc.want {
				t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
	if setupError(nil) != nil {
		t.Error("setupError(nil) is not nil")
	}
}

// TestRealMainExitStatus: usage and configuration errors exit 2, also when
// the configuration names a models directory without the models (found
// while the agent is built, before it runs).
func TestRealMainExitStatus(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noModels := write("nomodels.toml", "[device]\nid = \"k1\"\n[mqtt]\nbroker = \"\"\n[api]\nlisten = \"\"\n[metrics]\nlisten = \"\"\n"+
		"[spool]\nenabled = false\n[identity]\nkey_file = \"\"\n[inference]\nmodels_dir = \""+filepath.Join(dir, "none")+"\"\n")
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"no command", nil, 2, "usage: faceagent"},
		{"unknown command", []string{"runn"}, 2, `unknown command "runn"`},
		{"unknown flag", []string{"run", "--bogus"}, 2, "-bogus"},
		{"stray argument", []string{"run", "extra"}, 2, "unexpected arguments"},
		{"missing config file", []string{"run", "--config", filepath.Join(dir, "absent.toml")}, 2, "absent.toml"},
		{"misspelt table", []string{"run", "--config", write("sesion.toml", "[sesion]\ntimeout = \"45s\"\n")}, 2, "unknown table [sesion]"},
		{"bare-number duration", []string{"run", "--config", write("dur.toml", "[mqtt]\nkeepalive = 30\n")}, 2, `like keepalive = "30s"`},
		{"invalid value", []string{"run", "--config", write("qos.toml", "[mqtt]\nqos = 5\n")}, 2, "mqtt.qos"},
		{"models missing", []string{"run", "--config", noModels}, 2, "inference:"},
		{"inspect: flag after the images", []string{"inspect", "a.jpg", "--bogus"}, 2, "-bogus"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errw bytes.Buffer
			code := realMain(tc.args, &out, &errw)
			if code != tc.wantCode || !strings.Contains(errw.String(), tc.wantStderr) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %q", code, errw.String(), tc.wantCode, tc.wantStderr)
			}
		})
	}
}
