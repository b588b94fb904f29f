// Package systemd holds the agent's systemd unit (faceagent.service); its
// tests check the unit with systemd-analyze and pin the service contract
// (notify readiness, watchdog, restart policy, hardening, device access).
package systemd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/internal/testenv"
)

const unitFile = "faceagent.service"

// directives parses a unit file into section → key → values (in order).
func directives(t *testing.T, text string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("unit line %q is not key=value in a section", line)
		}
		out[section][k] = append(out[section][k], v)
	}
	return out
}

func readUnit(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUnitContract(t *testing.T) {
	d := directives(t, readUnit(t))
	svc := d["Service"]
	one := func(key string) string {
		t.Helper()
		v := svc[key]
		if len(v) != 1 {
			t.Fatalf("Service.%s = %q, want exactly one value", key, v)
		}
		return v[0]
	}
	for _, c := range []struct{ key, want string }{
		{"Type", "notify"},
		{"NotifyAccess", "main"},
		{"Restart", "on-failure"},
		{"NoNewPrivileges", "yes"},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"ReadWritePaths", "/var/lib/faceverify"},
		{"SupplementaryGroups", "video gpio"},
		{"DevicePolicy", "closed"},
		{"ExecStart", "/usr/bin/faceagent run --config /etc/faceverify/agent.toml"},
	} {
		if got := one(c.key); got != c.want {
			t.Errorf("Service.%s = %q, want %q", c.key, got, c.want)
		}
	}
	if w := one("WatchdogSec"); w == "" || w == "0" {
		t.Errorf("WatchdogSec = %q, want a timeout", w)
	}
	if _, ok := svc["PrivateDevices"]; ok {
		t.Error("PrivateDevices is set: it hides /dev/video* and /dev/gpiochip*")
	}
	allow := strings.Join(svc["DeviceAllow"], ";")
	for _, dev := range []string{"char-video4linux rw", "char-gpiochip rw"} {
		if !strings.Contains(allow, dev) {
			t.Errorf("DeviceAllow %q lacks %q", svc["DeviceAllow"], dev)
		}
	}
	if got := d["Install"]["WantedBy"]; len(got) != 1 || got[0] != "multi-user.target" {
		t.Errorf("Install.WantedBy = %q", got)
	}
}

// TestSystemdAnalyzeVerify runs `systemd-analyze verify` on the unit with
// ExecStart pointing at an executable copy (verify checks that the
// command exists). Any diagnostic fails the test: verify exits 0 on
// unknown keys and bad values, which it only prints.
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testenv.Missing(t, "systemd-analyze not found (Debian package systemd): unit not verified")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "faceagent")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	unit := strings.Replace(readUnit(t), "ExecStart=/usr/bin/faceagent ", "ExecStart="+exe+" ", 1)
	if !strings.Contains(unit, exe) {
		t.Fatal("ExecStart=/usr/bin/faceagent not found in the unit")
	}
	path := filepath.Join(dir, unitFile)
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: err=%v\n%s", err, out)
	}

	// The same check must catch a mistake: a misspelt key.
	bad := strings.Replace(unit, "ProtectSystem=strict", "ProtectSystm=strict", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ = exec.Command(sa, "verify", "--man=no", path).CombinedOutput()
	if !strings.Contains(string(out), "ProtectSystm") {
		t.Fatalf("verify did not report a misspelt key:\n%s", out)
	}
}
