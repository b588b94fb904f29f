package config

import (
	"net"
	"path/filepath"
	"time"

	"github.com/faceverify/faceverify/internal/conf"
	"github.com/faceverify/faceverify/internal/validate"
)

// buildDate is the default clock floor (YYYY-MM-DD): no correct clock reads
// earlier than the day the binary was built. Set at build time with
// -ldflags "-X github.com/faceverify/faceverify/agent/config.buildDate=2026-11-30".
var buildDate = "2026-11-01"

// DefaultStateDir holds the device key, the spool key and the spool; the
// systemd unit makes it the agent's only writable path.
const DefaultStateDir = "/var/lib/faceverify"

// SpoolConfig is the [spool] table: the encrypted offline spool that keeps
// submissions the gateway cannot take now (see uplink/spool).
type SpoolConfig struct {
	// Enabled turns the spool on; off, a failed upload is retried by the
	// session only (session.upload_retries) and then lost.
	Enabled bool `toml:"enabled"`
	// Dir holds the record files (created 0700).
	Dir string `toml:"dir" nonempty:"true" when:"spool.enabled" rule:"must be set when spool.enabled"`
	// KeyFile is the AES-256 key (created 0600 on first start). Losing it
	// loses the records; they are refused and deleted.
	KeyFile string `toml:"key_file" nonempty:"true" when:"spool.enabled" rule:"must be set when spool.enabled"`
	// MaxBytes and MaxCount bound the spool; beyond them the oldest records
	// are evicted (counted in faceverify_agent_spool_evictions_total).
	MaxBytes int64 `toml:"max_bytes" min:"1048576" unit:"(1 MiB)" when:"spool.enabled"`
	MaxCount int   `toml:"max_count" min:"1" max:"100000" when:"spool.enabled"`
	// MaxAge is how long a record is kept (user tokens live 15m by default
	// on the gateway; a record whose token expired cannot be delivered).
	MaxAge time.Duration `toml:"max_age" min:"1m" when:"spool.enabled"`
	// RetryInitial is the first delivery retry delay; it doubles up to
	// RetryMax, with jitter.
	RetryInitial time.Duration `toml:"retry_initial" min:"100ms" when:"spool.enabled"`
	RetryMax     time.Duration `toml:"retry_max"`
}

// IdentityConfig is the [identity] table: the device's Ed25519 key.
type IdentityConfig struct {
	// KeyFile is the private key (PKCS#8 PEM, created 0600 on first start).
	// "" sends unsigned submissions (a gateway with
	// devices.require_signature refuses them).
	KeyFile string `toml:"key_file"`
}

// ClockConfig is the [clock] table.
type ClockConfig struct {
	// MinValid is the earliest plausible time (TOML datetime, e.g.
	// 2026-11-01T00:00:00Z). Until the clock reads at least this (a board
	// without RTC boots in 1970 and waits for NTP), uploads wait in the
	// spool and /healthz reports clock_unsynced. Zero: the build date.
	MinValid time.Time `toml:"min_valid"`
}

// MetricsConfig is the [metrics] table. GET /metrics is always served on
// the loopback API (api.listen); this adds a listener of its own for
// /metrics and /healthz (e.g. 127.0.0.1:9470 for a node-local Prometheus,
// or when the API is disabled).
type MetricsConfig struct {
	// Listen is host:port; "" (the default) adds no listener. Loopback only
	// unless AllowNonLoopback.
	Listen           string `toml:"listen"`
	AllowNonLoopback bool   `toml:"allow_non_loopback"`
}

func defaultSpoolConfig() SpoolConfig {
	return SpoolConfig{
		Enabled:      true,
		Dir:          filepath.Join(DefaultStateDir, "spool"),
		KeyFile:      filepath.Join(DefaultStateDir, "spool.key"),
		MaxBytes:     64 << 20,
		MaxCount:     256,
		MaxAge:       15 * time.Minute,
		RetryInitial: 2 * time.Second,
		RetryMax:     2 * time.Minute,
	}
}

func defaultIdentityConfig() IdentityConfig {
	return IdentityConfig{KeyFile: filepath.Join(DefaultStateDir, "device.key")}
}

func defaultMetricsConfig() MetricsConfig {
	return MetricsConfig{Listen: ""}
}

// ClockFloor is the effective clock.min_valid: the configured time, or the
// build date.
func (c Config) ClockFloor() time.Time {
	if !c.Clock.MinValid.IsZero() {
		return c.Clock.MinValid
	}
	t, err := time.Parse(time.DateOnly, buildDate)
	if err != nil {
		return time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	return t
}

// validateDeviceTables checks the rules of [spool], [clock] and [metrics]
// beyond the declared limits.
func (c Config) validateDeviceTables() error {
	s := c.Spool
	if s.Enabled {
		switch {
		case filepath.Dir(filepath.Clean(s.KeyFile)) == filepath.Clean(s.Dir):
			return conf.Errorf("spool.key_file", "must not be inside spool.dir (%q)", s.Dir)
		case s.RetryMax < s.RetryInitial:
			return conf.Errorf("spool.retry_max", "must be ≥ spool.retry_initial (%v), got %v", s.RetryInitial, s.RetryMax)
		}
	}
	if floor := c.ClockFloor(); floor.Year() < 2020 {
		return conf.Errorf("clock.min_valid", "must be 2020 or later, got %v", floor.Format(time.RFC3339))
	}
	if c.Metrics.Listen != "" {
		host, port, err := net.SplitHostPort(c.Metrics.Listen)
		if err != nil || port == "" {
			return conf.Errorf("metrics.listen", "must be host:port or \"\", got %q", c.Metrics.Listen)
		}
		if !c.Metrics.AllowNonLoopback && !validate.LoopbackHost(host) {
			return conf.Errorf("metrics.listen", "must be a loopback address unless metrics.allow_non_loopback = true, got %q", c.Metrics.Listen)
		}
	}
	return nil
}
