// Package testenv decides what a test does when something it needs from the
// machine is absent: a server (PostgreSQL, an MQTT broker), a program
// (Chromium, mosquitto, systemd-analyze) or the labelled photos in
// ../shared/testdata. On a developer's machine the test is skipped with a
// message naming what is missing (`make test` lists every skip at its end);
// in CI it fails, because .ci/run installs and starts all of them, so a
// missing one there means a broken setup, not a reason to skip.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// InCI reports whether the tests run in CI: $CI is set and not empty (CI
// services set CI=true; .ci/run sets it too).
func InCI() bool { return os.Getenv("CI") != "" }

// Missing skips t with the message built from format and args, or, in CI,
// fails t with the same message prefixed by "CI: ". It does not return.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI: "+format, args...)
		return
	}
	t.Skipf(format, args...)
}

// RepoRoot returns the module's root (the nearest folder above the working
// directory holding go.mod); it fails t when there is none.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}
