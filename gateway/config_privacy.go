package gateway

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/faceverify/faceverify/internal/validate"
)

// EnvAuditKey holds the HMAC key of user references in the audit log
// (AuditConfig.Key).
const EnvAuditKey = "FACEGATEWAY_AUDIT_KEY"

// ErasureConfig configures crypto-shredding of selfies (SelfieKeys).
type ErasureConfig struct {
	// KeyDir holds the epoch keys, one 0600 file per epoch in a 0700
	// directory, shared by every replica that mounts it. Put it on tmpfs
	// (e.g. /run/facegateway/keys) so keys never reach a disk. "" keeps
	// keys in this process's memory only: a selfie accepted by another
	// replica or before a restart cannot be read here: it is handed back
	// for the replica that holds the key (the accepting replica is woken
	// at once, so it usually claims its own submissions first), and after
	// processing.max_claims it fails PROCESSING_ERROR and the device may
	// retry.
	KeyDir string `toml:"key_dir"`
	// Epoch is how long one key seals new selfies.
	Epoch time.Duration `toml:"epoch"`
	// KeyLifetime is how long a key is kept after its epoch ends; it must
	// cover processing (processing.lease × processing.max_claims). A
	// selfie is unreadable at most Epoch + KeyLifetime after it arrived.
	KeyLifetime time.Duration `toml:"key_lifetime"`
}

// RetentionConfig configures the retention purge of the gateway's records.
// A zero duration keeps those records forever.
type RetentionConfig struct {
	// Flows: flows, their submissions (decisions, scores), callbacks and
	// tokens are deleted this long after the decision (or after creation
	// for a flow never decided).
	Flows time.Duration `toml:"flows"`
	// CallbackBodies: a callback's body (it names the partner user) is
	// emptied this long after delivery or giving up.
	CallbackBodies time.Duration `toml:"callback_bodies"`
	// Interval is how often each replica runs the purge.
	Interval time.Duration `toml:"interval"`
}

// AuditConfig configures the audit log.
type AuditConfig struct {
	// Key is the audit secret (≥ 16 characters). It keys the audit
	// chain (HMAC-SHA256 under NewAuditKey(Key), so a copy of the
	// database cannot be rewritten into a chain that verifies), the user
	// references in erasure rows ("user:<hex>" = HMAC(key, client_id, id
	// type, user id), so an operator holding the key can answer "was user
	// X erased?" while the log itself names nobody), the flow references
	// of token and detail rows, and the lockout kept through an erasure.
	// Not read from the file: set FACEGATEWAY_AUDIT_KEY or KeyFile.
	// Required when listen is not loopback; without it (loopback only)
	// rows are chained unkeyed (`audit list -verify` cannot verify them)
	// and carry no user or flow reference.
	Key     string `toml:"-"`
	KeyFile string `toml:"key_file"`
}

func defaultErasureConfig() ErasureConfig {
	return ErasureConfig{Epoch: 5 * time.Minute, KeyLifetime: 10 * time.Minute}
}

func defaultRetentionConfig() RetentionConfig {
	return RetentionConfig{Flows: 30 * 24 * time.Hour, CallbackBodies: 7 * 24 * time.Hour, Interval: 10 * time.Minute}
}

// ResolveSecrets fills Key from FACEGATEWAY_AUDIT_KEY or KeyFile (for
// commands that read only [database] and [audit]).
func (a *AuditConfig) ResolveSecrets(getenv func(string) string) error {
	return a.resolveSecrets(getenv)
}

// resolveSecrets fills Key from FACEGATEWAY_AUDIT_KEY or KeyFile.
func (a *AuditConfig) resolveSecrets(getenv func(string) string) error {
	if v := getenv(EnvAuditKey); v != "" {
		a.Key = v
		return nil
	}
	if a.KeyFile == "" {
		return nil
	}
	b, err := os.ReadFile(a.KeyFile)
	if err != nil {
		return fmt.Errorf("audit.key_file: %w", err)
	}
	a.Key = string(bytes.TrimSpace(b))
	return nil
}

// validatePrivacy checks [erasure], [retention] and [audit].
func (c Config) validatePrivacy() error {
	e := c.Erasure
	if e.Epoch < time.Second {
		return errField("erasure.epoch", "must be ≥ 1s, got %v", e.Epoch)
	}
	if need := c.Processing.Lease * time.Duration(c.Processing.MaxClaims); e.KeyLifetime < need {
		return errField("erasure.key_lifetime", "must cover processing (processing.lease × processing.max_claims = %v), got %v", need, e.KeyLifetime)
	}
	r := c.Retention
	if r.Flows < 0 {
		return errField("retention.flows", "must be ≥ 0, got %v", r.Flows)
	}
	if r.Flows > 0 && r.Flows < c.Tokens.UserTTL+e.Epoch+e.KeyLifetime {
		return errField("retention.flows", "must be 0 (keep) or ≥ tokens.user_ttl + erasure.epoch + erasure.key_lifetime (%v), got %v", c.Tokens.UserTTL+e.Epoch+e.KeyLifetime, r.Flows)
	}
	if r.CallbackBodies < 0 {
		return errField("retention.callback_bodies", "must be ≥ 0, got %v", r.CallbackBodies)
	}
	if r.Interval < time.Second {
		return errField("retention.interval", "must be ≥ 1s, got %v", r.Interval)
	}
	if c.Audit.Key == "" && !validate.LoopbackListenAddr(c.Listen) {
		return errField("audit.key", "required when listen is not loopback (%s or audit.key_file): it keys the audit log's chain and user references", EnvAuditKey)
	}
	if c.Audit.Key != "" && len(c.Audit.Key) < 16 {
		return errField("audit.key", "must be ≥ 16 characters (%s or audit.key_file)", EnvAuditKey)
	}
	return nil
}
