package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeExitCodes: configuration problems exit 2 and name the problem,
// as faceagent does; the gateway never starts.
func TestServeExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[inference]\nembedder = \"arcface\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.toml")
	if err := os.WriteFile(broken, []byte("[inference\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		say  string
	}{
		{"missing file", []string{"serve", "-config", filepath.Join(dir, "absent.toml")}, 2, "absent.toml"},
		{"invalid value", []string{"serve", "-config", bad}, 2, "inference.embedder"},
		{"not TOML", []string{"serve", "-config", broken}, 2, "broken.toml"},
		{"bad log level", []string{"serve", "-config", bad, "-log-level", "loud"}, 2, "loud"},
		{"unknown flag", []string{"serve", "-no-such-flag"}, 2, "no-such-flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := realMain(tc.args, &stdout, &stderr); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.say) {
				t.Errorf("stderr %q does not name %q", stderr.String(), tc.say)
			}
		})
	}
}
