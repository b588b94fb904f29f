package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/broker"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/conf"
	"github.com/faceverify/faceverify/internal/validate"
)

// Environment variables read by Config.ResolveSecrets.
const (
	// EnvCallbackSecret holds the HMAC-SHA256 key that signs callbacks.
	EnvCallbackSecret = "FACEGATEWAY_CALLBACK_SECRET"
	// EnvPartnerPasskeyFormat names a partner's passkey variable; %s is the
	// client_id upper-cased with every character outside [A-Z0-9] replaced
	// by '_' (client "acme-bank" → FACEGATEWAY_PARTNER_ACME_BANK_PASSKEY).
	// Only partner programs read it (the sample partner); the gateway
	// holds argon2id hashes of passkeys (PartnerConfig.PasskeyHashes).
	EnvPartnerPasskeyFormat = "FACEGATEWAY_PARTNER_%s_PASSKEY"
)

// Config is the gateway's configuration: the TOML file of
// `facegateway serve`. Start from DefaultConfig, decode with DecodeConfig,
// fill secrets with ResolveSecrets, then Validate (LoadConfig does all four).
type Config struct {
	// Listen is the HTTP listen address, e.g. "127.0.0.1:8080".
	Listen string `toml:"listen"`
	// TLSCert and TLSKey are PEM files; when both are set the server speaks
	// HTTPS. They are required when Listen is not a loopback address,
	// unless InsecureAllowPlaintext (e.g. behind a TLS-terminating proxy).
	TLSCert                string `toml:"tls_cert"`
	TLSKey                 string `toml:"tls_key"`
	InsecureAllowPlaintext bool   `toml:"insecure_allow_plaintext"`
	// ShutdownTimeout bounds the graceful HTTP shutdown.
	ShutdownTimeout time.Duration `toml:"shutdown_timeout" gt:"0s"`

	Database     DatabaseConfig     `toml:"database"`
	Tokens       TokensConfig       `toml:"tokens"`
	Verification VerificationConfig `toml:"verification"`
	Processing   ProcessingConfig   `toml:"processing"`
	Reference    ReferenceConfig    `toml:"reference"`
	Callback     CallbackConfig     `toml:"callback"`
	Limits       LimitsConfig       `toml:"limits"`
	Inference    inference.Config   `toml:"inference"`
	// Broker is the embedded MQTT broker, the one-machine default the agents
	// report to; off by default (a fleet uses mosquitto or a clustered broker).
	Broker   broker.Config   `toml:"broker"`
	Partners []PartnerConfig `toml:"partners"`
	// Devices: which kiosks may submit (device signatures, enrollment).
	Devices DevicesConfig `toml:"devices"`
	// Erasure, Retention, Audit: config_privacy.go.
	Erasure   ErasureConfig   `toml:"erasure"`
	Retention RetentionConfig `toml:"retention"`
	Audit     AuditConfig     `toml:"audit"`
	// Replay: how long selfie hashes are kept for SUBMISSION_REPLAY.
	Replay ReplayConfig `toml:"replay"`
	// Status bounds the status long-poll (config_status.go).
	Status StatusConfig `toml:"status"`
}

// DatabaseConfig selects the Store backend.
type DatabaseConfig struct {
	// Driver is "sqlite" (embedded, the default: one gateway process) or
	// "postgres" (gateway/pgstore: any number of replicas on one database).
	Driver string `toml:"driver"`
	// Path is the SQLite database file (created if missing).
	Path string `toml:"path"`
	// DSN is the PostgreSQL connection string without its password, as a
	// URL ("postgres://facegateway@db.example:5432/facegateway?sslmode=verify-full")
	// or key=value pairs. The password comes from FACEGATEWAY_DATABASE_PASSWORD;
	// or set DSNFile instead of DSN.
	DSN string `toml:"dsn"`
	// DSNFile is a file holding the whole connection string, password
	// included (e.g. a mounted secret); ResolveSecrets reads it into DSN.
	DSNFile string `toml:"dsn_file"`
	// Password is not read from the file: set FACEGATEWAY_DATABASE_PASSWORD.
	// When set it replaces any password of the DSN.
	Password string `toml:"-"`
}

// TokensConfig sets bearer-token lifetimes.
type TokensConfig struct {
	PartnerTTL time.Duration `toml:"partner_ttl" min:"1m"` // partner tokens from POST /v1/token
	UserTTL    time.Duration `toml:"user_ttl" min:"1m"`    // user tokens from POST /v1/flows
}

// VerificationConfig sets the flow rules.
type VerificationConfig struct {
	// MaxAttempts is the number of selfies a flow may submit.
	MaxAttempts int `toml:"max_attempts" min:"1" max:"20"`
	// RetryAfterMS is the status-poll interval advised while processing,
	// in milliseconds (StatusResponse.RetryAfterMS).
	RetryAfterMS int `toml:"retry_after_ms" min:"50" max:"60000"`
}

// ProcessingConfig sizes the submission worker pool.
type ProcessingConfig struct {
	// Workers is the number of submissions analysed concurrently.
	Workers int `toml:"workers" min:"1" max:"64"`
	// Lease is how long a claimed submission stays with its worker; after
	// it, another worker (or replica, or this one after a restart) takes it.
	Lease time.Duration `toml:"lease" min:"1s"`
	// PollInterval is how often idle workers look for work left by
	// restarts or other replicas (new submissions wake them at once).
	PollInterval time.Duration `toml:"poll_interval" gt:"0s"`
	// MaxClaims gives up on a submission claimed this many times without a
	// result (reason PROCESSING_ERROR, the device may retry).
	MaxClaims int `toml:"max_claims" min:"1"`
	// ExpiryInterval is how often the gateway closes flows whose user
	// token expired without a final decision (status EXPIRED).
	ExpiryInterval time.Duration `toml:"expiry_interval" min:"1s"`
}

// ReferenceConfig bounds fetches from partners' reference-image APIs.
type ReferenceConfig struct {
	Timeout      time.Duration `toml:"timeout" gt:"0s"`          // per HTTP request
	MaxBytes     int64         `toml:"max_bytes" gt:"0"`         // response body limit
	Retries      int           `toml:"retries" min:"0" max:"10"` // extra tries after a failed fetch (5xx, timeout, network)
	RetryBackoff time.Duration `toml:"retry_backoff" min:"0s"`   // wait before the first retry; doubles each time
	// Prefetch is how many references are fetched and analysed at once in
	// the background when flows are initiated (default 2), so the selfie
	// meets an analysed reference; 0 fetches each reference at its flow's
	// first submission instead. Either way one fetch and one analysis
	// serve every attempt of the flow (refcache.go).
	Prefetch int `toml:"prefetch" min:"0" max:"64"`
	// CheckDeadline bounds a reference_check on flow initiation: fetch,
	// retries and analysis (default 20s, under the 30 s idle timeout of
	// common load balancers). A check that runs out answers 502
	// reference_unavailable and creates no flow.
	CheckDeadline time.Duration `toml:"check_deadline" gt:"0s"`
	// MaxChecks bounds the reference_check loads of one partner in
	// flight at once on a replica (default 16); a check that finds them
	// all taken answers 503 server_busy with Retry-After 1 at once.
	// Concurrent checks of one correlation id share one fetch, and a
	// repeated check of an open flow reuses the reference kept for it
	// (refcheck.go), so the bound is on distinct users.
	MaxChecks int `toml:"max_checks" min:"1" max:"256"`
}

// CallbackConfig configures completion callbacks.
type CallbackConfig struct {
	// Secret is the deprecated single callback key (key id "global"),
	// accepted only while at most one partner has a callback_url and no
	// callback_secrets of its own; every partner should have its own
	// (PartnerConfig.CallbackSecrets). It is not read from the file: set
	// FACEGATEWAY_CALLBACK_SECRET or SecretFile.
	Secret     string `toml:"-"`
	SecretFile string `toml:"secret_file"`
	// Timeout is per delivery attempt.
	Timeout time.Duration `toml:"timeout" gt:"0s"`
	// MaxAttempts is the number of deliveries tried before giving up.
	MaxAttempts int `toml:"max_attempts" min:"1"`
	// InitialBackoff is the wait after the first failure; it doubles up to
	// MaxBackoff.
	InitialBackoff time.Duration `toml:"initial_backoff" gt:"0s"`
	MaxBackoff     time.Duration `toml:"max_backoff"`
}

// LimitsConfig bounds request bodies.
type LimitsConfig struct {
	// MaxSelfieBytes is the largest accepted selfie (decoded from base64);
	// larger is 413.
	MaxSelfieBytes int64 `toml:"max_selfie_bytes" min:"1024"`
	// MaxJSONBytes bounds every other JSON request body.
	MaxJSONBytes int64 `toml:"max_json_bytes" min:"1024"`
	// MaxSelfiePixels bounds a selfie's width×height (413 above it), or
	// inference.max_pixels when lower; the reference image has
	// inference.max_pixels. See config_limits.go.
	MaxSelfiePixels int `toml:"max_selfie_pixels"`
	// DecodeMemory is the budget, in bytes, of pixel memory for the image
	// decodes in flight (uploads, workers, references).
	DecodeMemory int64 `toml:"decode_memory"`
	// DecodeWait is how long an upload waits for decode budget before it
	// is answered 503 server_busy with Retry-After.
	DecodeWait time.Duration `toml:"decode_wait"`
	// Rate: token-bucket limits per client, source, flow and device.
	Rate RateConfig `toml:"rate"`
	// Lockout: failed verifications that lock a partner user out.
	Lockout LockoutConfig `toml:"lockout"`
}

// PartnerConfig is one partner allowed to use the gateway.
type PartnerConfig struct {
	ClientID string `toml:"client_id"`
	// PasskeyHashes are argon2id PHC strings of the partner's passkey
	// (`facegateway partners hash-passkey`), one or two: during a rotation
	// both the old and the new passkey are valid. Plaintext passkeys are
	// not read (not from the file, the environment nor a file).
	PasskeyHashes []string `toml:"passkey_hashes"`
	// Lockout overrides [limits.lockout] for this partner's users; zero
	// fields inherit it.
	Lockout LockoutConfig `toml:"lockout"`
	// ReferenceURL is the partner's reference-image API (see
	// api.ReferenceResponse).
	ReferenceURL string `toml:"reference_url"`
	// CallbackURL receives api.Callback when a flow is final; "" disables
	// callbacks for this partner.
	CallbackURL string `toml:"callback_url"`
	// CallbackSecrets are the partner's own callback keys, the signing key
	// first (see CallbackSecretConfig; secrets come from files or
	// FACEGATEWAY_PARTNER_<CLIENT_ID>_CALLBACK_SECRET, never this file).
	CallbackSecrets []CallbackSecretConfig `toml:"callback_secrets"`
	// Flows lists the flow kinds the partner may initiate.
	Flows []string `toml:"flows"`
	// ImageHosts lists the hosts ("host" or "host:port") an image_url in a
	// reference answer may name besides reference_url's own host. Any other
	// host is refused, so a reference answer cannot point the gateway at
	// an arbitrary (e.g. internal) address.
	ImageHosts []string `toml:"image_hosts"`
	// InsecureAllowHTTP permits http:// reference and callback URLs on
	// non-loopback hosts (e.g. a partner reached through a private TLS
	// tunnel). Off: such URLs must be https.
	InsecureAllowHTTP bool `toml:"insecure_allow_http"`
	// AllowPrivateNetwork lets the gateway connect to this partner's hosts
	// when they resolve to loopback, private, link-local, CGNAT or other
	// special addresses (a partner on the same machine or network, the
	// demo, tests). Off: such addresses are refused at connect time.
	AllowPrivateNetwork bool `toml:"allow_private_network"`
}

// DefaultConfig returns the values used for keys absent from the file.
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		ShutdownTimeout: 10 * time.Second,
		Database:        DatabaseConfig{Driver: "sqlite", Path: "facegateway.db"},
		Tokens:          TokensConfig{PartnerTTL: time.Hour, UserTTL: 15 * time.Minute},
		Verification:    VerificationConfig{MaxAttempts: 3, RetryAfterMS: 1000},
		Processing: ProcessingConfig{
			Workers:        2,
			Lease:          2 * time.Minute,
			PollInterval:   time.Second,
			MaxClaims:      3,
			ExpiryInterval: 30 * time.Second,
		},
		Reference: ReferenceConfig{
			Timeout:       10 * time.Second,
			MaxBytes:      10 << 20,
			Retries:       5,
			RetryBackoff:  time.Second,
			Prefetch:      2,
			CheckDeadline: 20 * time.Second,
			MaxChecks:     16,
		},
		Callback: CallbackConfig{
			Timeout:        10 * time.Second,
			MaxAttempts:    8,
			InitialBackoff: 2 * time.Second,
			MaxBackoff:     5 * time.Minute,
		},
		Limits:    defaultLimitsConfig(),
		Inference: inference.DefaultConfig(),
		Broker:    broker.DefaultConfig(),
		Devices:   defaultDevicesConfig(),
		Erasure:   defaultErasureConfig(),
		Retention: defaultRetentionConfig(),
		Replay:    defaultReplayConfig(),
		Status:    defaultStatusConfig(),
	}
}

// DecodeConfig decodes TOML over DefaultConfig strictly (internal/conf):
// keys and tables the Config does not know are an error naming each with
// its line and, for a near miss, the key meant ("decode config: unknown key
// tokens.user_tll (line 2; did you mean tokens.user_ttl?)"); a duration
// written as a bare number is refused with the string to write instead.
// Partner flows default to both kinds; without inference.match_threshold
// the threshold is the embedder's (inference.DefaultMatchThreshold).
// Secrets are not resolved.
func DecodeConfig(r io.Reader) (Config, error) {
	text, err := io.ReadAll(r)
	if err != nil {
		return Config{}, fmt.Errorf("decode config: %w", err)
	}
	cfg := DefaultConfig()
	const plaintext = "plaintext passkeys are no longer read; put the output of `facegateway partners hash-passkey` in partners[].passkey_hashes"
	md, err := conf.Decode(string(text), &cfg, conf.Options{
		Program: "gateway",
		Hints: map[string]string{"partners.passkey_file": plaintext, "partners.passkey": plaintext,
			"database.password": "the database password comes from " + EnvDatabasePassword},
	})
	if err != nil {
		return Config{}, fmt.Errorf("decode config: %w", err)
	}
	cfg.Inference.ApplyEmbedderDefaults(md.IsDefined("inference", "match_threshold"))
	for i := range cfg.Partners {
		if cfg.Partners[i].Flows == nil {
			cfg.Partners[i].Flows = []string{api.FlowSelfie, api.FlowKTP}
		}
	}
	return cfg, nil
}

// PartnerPasskeyEnv is the environment variable from which the sample
// partner (`facegateway partner`, the client side) may read clientID's
// passkey; the gateway itself never reads it and holds only argon2id
// hashes.
func PartnerPasskeyEnv(clientID string) string {
	b := []byte(strings.ToUpper(clientID))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return fmt.Sprintf(EnvPartnerPasskeyFormat, b)
}

// ResolveSecrets fills the callback secret from the
// environment (getenv, usually os.Getenv) or from their *_file settings;
// the environment wins. A file's surrounding whitespace is trimmed. Errors
// name the field whose file could not be read.
func (c *Config) ResolveSecrets(getenv func(string) string) error {
	read := func(field, path string) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("%s: %w", field, err)
		}
		return string(bytes.TrimSpace(b)), nil
	}
	if err := c.Database.ResolveSecrets(getenv); err != nil {
		return err
	}
	if v := getenv(EnvCallbackSecret); v != "" {
		c.Callback.Secret = v
	} else if c.Callback.SecretFile != "" {
		s, err := read("callback.secret_file", c.Callback.SecretFile)
		if err != nil {
			return err
		}
		c.Callback.Secret = s
	}
	if err := c.Devices.resolveSecrets(getenv); err != nil {
		return err
	}
	if err := c.Audit.resolveSecrets(getenv); err != nil {
		return err
	}
	return c.resolveCallbackKeys(getenv, read) // callbackkeys.go
}

// LoadConfig reads the TOML file at path, resolves secrets with getenv and
// validates the result.
func LoadConfig(path string, getenv func(string) string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	cfg, err := DecodeConfig(f)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := cfg.ResolveSecrets(getenv); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// errField formats a validation error naming the dotted field.
func errField(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

// Validate reports the first invalid setting, named by its dotted TOML path,
// e.g. "partners[0].reference_url: must be an absolute http(s) URL, got ...":
// the limits declared on the fields (conf.Check), then the rules that
// relate fields or parse values.
func (c Config) Validate() error {
	if err := conf.Check(c, ""); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return errField("listen", "must be host:port, got %q", c.Listen)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errField("tls_key", "tls_cert and tls_key must be set together")
	}
	if c.TLSCert == "" && !c.InsecureAllowPlaintext && !validate.LoopbackListenAddr(c.Listen) {
		return errField("listen", "non-loopback address %q needs tls_cert and tls_key (or insecure_allow_plaintext = true behind a TLS proxy)", c.Listen)
	}
	if err := c.Database.validate(); err != nil {
		return err
	}
	if budget := c.Reference.budget(); c.Processing.Lease <= budget {
		return errField("processing.lease", "must exceed the reference fetch budget (%v: (retries+1)×timeout plus backoff), got %v", budget, c.Processing.Lease)
	}
	if c.Callback.MaxBackoff < c.Callback.InitialBackoff {
		return errField("callback.max_backoff", "must be ≥ callback.initial_backoff (%v), got %v", c.Callback.InitialBackoff, c.Callback.MaxBackoff)
	}
	if err := c.Limits.Rate.validate(); err != nil {
		return err
	}
	if err := c.Limits.Lockout.validate("limits.lockout", false); err != nil {
		return err
	}
	if err := c.Inference.Validate(); err != nil {
		return err // already names "inference.<field>"
	}
	if err := c.Limits.validateDecode(); err != nil {
		return err
	}
	if err := c.Broker.Validate(); err != nil {
		return err // already names "broker.<field>"
	}
	if err := c.Devices.validate(); err != nil {
		return err
	}
	if err := c.validatePrivacy(); err != nil {
		return err
	}
	if err := c.Replay.validate(); err != nil {
		return err
	}
	if err := c.Status.validate(); err != nil {
		return err
	}
	if len(c.Partners) == 0 {
		return errField("partners", "at least one partner is required")
	}
	seen := map[string]bool{}
	for i, p := range c.Partners {
		f := func(name string) string { return fmt.Sprintf("partners[%d].%s", i, name) }
		if !validate.ID(p.ClientID, 64) {
			return errField(f("client_id"), "must be 1–64 characters of [A-Za-z0-9._-], got %q", p.ClientID)
		}
		if seen[p.ClientID] {
			return errField(f("client_id"), "duplicate client_id %q", p.ClientID)
		}
		seen[p.ClientID] = true
		if err := validatePasskeyHashes(p.PasskeyHashes, f("passkey_hashes")); err != nil {
			return err
		}
		if err := p.Lockout.validate(f("lockout"), true); err != nil {
			return err
		}
		if err := checkHTTPURL(p.ReferenceURL); err != nil {
			return errField(f("reference_url"), "must be an absolute http(s) URL, got %q", p.ReferenceURL)
		}
		if !p.InsecureAllowHTTP && !secureURL(p.ReferenceURL) {
			return errField(f("reference_url"), "must be https (http only to loopback, or set %s), got %q", f("insecure_allow_http"), p.ReferenceURL)
		}
		if p.CallbackURL != "" {
			if err := checkHTTPURL(p.CallbackURL); err != nil {
				return errField(f("callback_url"), "must be an absolute http(s) URL, got %q", p.CallbackURL)
			}
			if !p.InsecureAllowHTTP && !secureURL(p.CallbackURL) {
				return errField(f("callback_url"), "must be https (http only to loopback, or set %s), got %q", f("insecure_allow_http"), p.CallbackURL)
			}
		}
		if err := p.validateNetwork(i); err != nil {
			return err
		}
		for j, h := range p.ImageHosts {
			if h == "" || strings.ContainsAny(h, "/?#@ ") {
				return errField(fmt.Sprintf("partners[%d].image_hosts[%d]", i, j), "must be a host or host:port, got %q", h)
			}
		}
		if len(p.Flows) == 0 {
			return errField(f("flows"), "must list at least one of %q, %q", api.FlowSelfie, api.FlowKTP)
		}
		for j, fl := range p.Flows {
			if fl != api.FlowSelfie && fl != api.FlowKTP {
				return errField(fmt.Sprintf("partners[%d].flows[%d]", i, j), "must be %q or %q, got %q", api.FlowSelfie, api.FlowKTP, fl)
			}
		}
	}
	return c.validateCallbackKeys() // callbackkeys.go
}

// partner returns the configured partner with that client id.
func (c *Config) partner(clientID string) (PartnerConfig, bool) {
	i := slices.IndexFunc(c.Partners, func(p PartnerConfig) bool { return p.ClientID == clientID })
	if i < 0 {
		return PartnerConfig{}, false
	}
	return c.Partners[i], true
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("not an absolute http(s) URL")
	}
	return nil
}

// secureURL reports whether an absolute http(s) URL is https, or http to a
// loopback host.
func secureURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	return u.Scheme == "https" || validate.LoopbackHost(u.Hostname())
}

// budget is the longest a reference fetch can take: every try timing out,
// plus the doubling backoff between tries.
func (r ReferenceConfig) budget() time.Duration {
	d := time.Duration(r.Retries+1) * r.Timeout
	b := r.RetryBackoff
	for range r.Retries {
		d += b
		b *= 2
	}
	return d
}
