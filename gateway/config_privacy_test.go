package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPrivacyConfig(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // error prefix; "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"keep forever", func(c *Config) { c.Retention.Flows, c.Retention.CallbackBodies = 0, 0 }, ""},
		{"epoch under 1s", func(c *Config) { c.Erasure.Epoch = time.Millisecond }, "erasure.epoch:"},
		{"key lifetime under processing", func(c *Config) { c.Erasure.KeyLifetime = 5 * time.Minute }, "erasure.key_lifetime: must cover processing (processing.lease × processing.max_claims = 6m0s)"},
		{"flows retention shorter than a flow", func(c *Config) { c.Retention.Flows = 10 * time.Minute }, "retention.flows:"},
		{"negative flows retention", func(c *Config) { c.Retention.Flows = -time.Hour }, "retention.flows:"},
		{"negative callback bodies", func(c *Config) { c.Retention.CallbackBodies = -time.Hour }, "retention.callback_bodies:"},
		{"purge interval", func(c *Config) { c.Retention.Interval = 0 }, "retention.interval:"},
		{"short audit key", func(c *Config) { c.Audit.Key = "short" }, "audit.key:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestAuditKeySecret(t *testing.T) {
	file := filepath.Join(t.TempDir(), "key")
	os.WriteFile(file, []byte("  from-file-0123456789\n"), 0o600)
	c := validConfig()
	c.Audit.KeyFile = file
	if err := c.ResolveSecrets(func(string) string { return "" }); err != nil || c.Audit.Key != "from-file-0123456789" {
		t.Errorf("from file: %q %v", c.Audit.Key, err)
	}
	env := map[string]string{EnvAuditKey: "from-env-0123456789"}
	if err := c.ResolveSecrets(func(k string) string { return env[k] }); err != nil || c.Audit.Key != "from-env-0123456789" {
		t.Errorf("from env: %q %v", c.Audit.Key, err)
	}
	c.Audit.KeyFile = filepath.Join(t.TempDir(), "missing")
	if err := c.ResolveSecrets(func(string) string { return "" }); err == nil || !strings.HasPrefix(err.Error(), "audit.key_file:") {
		t.Errorf("missing file: %v", err)
	}
}
