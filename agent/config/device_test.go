package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDeviceTablesValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"spool dir", func(c *Config) { c.Spool.Dir = "" }, "spool.dir:"},
		{"key inside spool dir", func(c *Config) { c.Spool.KeyFile = filepath.Join(c.Spool.Dir, "k") }, "spool.key_file:"},
		{"tiny spool", func(c *Config) { c.Spool.MaxBytes = 10 }, "spool.max_bytes:"},
		{"max age", func(c *Config) { c.Spool.MaxAge = time.Second }, "spool.max_age:"},
		{"retry max", func(c *Config) { c.Spool.RetryMax = time.Millisecond }, "spool.retry_max:"},
		{"clock floor", func(c *Config) { c.Clock.MinValid = time.Unix(0, 0).UTC() }, "clock.min_valid:"},
		{"metrics public", func(c *Config) { c.Metrics.Listen = "0.0.0.0:9470" }, "metrics.listen:"},
		{"metrics bad", func(c *Config) { c.Metrics.Listen = "9470" }, "metrics.listen:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Device.ID = "k1"
			tc.mutate(&c)
			if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	c := DefaultConfig()
	c.Device.ID = "k1"
	c.Spool.Enabled, c.Spool.Dir = false, ""
	if err := c.Validate(); err != nil {
		t.Errorf("disabled spool needs no dir: %v", err)
	}
	if f := DefaultConfig().ClockFloor(); f.Year() < 2026 {
		t.Errorf("build floor %v", f)
	}
}
