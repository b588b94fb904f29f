package gateway

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/inference"
)

// acmeHash is the argon2id hash of acme's passkey in validConfig.
var acmeHash = HashPasskey("acme-passkey-0123456789")

// validConfig is a minimal valid configuration.
func validConfig() Config {
	c := DefaultConfig()
	c.Callback.Secret = "callback-secret-0123456789"
	c.Partners = []PartnerConfig{{
		ClientID:      "acme",
		PasskeyHashes: []string{acmeHash},
		ReferenceURL:  "http://127.0.0.1:8090/reference",
		CallbackURL:   "http://127.0.0.1:8090/callback",
		Flows:         []string{"selfie", "ktp"},
		// The sample partner runs on this machine.
		AllowPrivateNetwork: true,
	}}
	return c
}

func TestPartnerURLTransport(t *testing.T) {
	tests := []struct {
		name      string
		ref, cb   string
		allowHTTP bool
		ok        bool
	}{
		{"https remote", "https://partner.example/ref", "https://partner.example/cb", false, true},
		{"http loopback", "http://127.0.0.1:8090/ref", "http://localhost:8090/cb", false, true},
		{"http ipv6 loopback", "http://[::1]:8090/ref", "", false, true},
		{"http remote refused", "http://partner.example/ref", "", false, false},
		{"http remote allowed explicitly", "http://10.0.0.5/ref", "http://10.0.0.5/cb", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			c.Partners[0].ReferenceURL, c.Partners[0].CallbackURL, c.Partners[0].InsecureAllowHTTP = tt.ref, tt.cb, tt.allowHTTP
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestValidateNamesField(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // prefix of the error
	}{
		{"plaintext on all interfaces", func(c *Config) { c.Listen = ":8080" }, "listen: non-loopback"},
		{"bad listen", func(c *Config) { c.Listen = "nonsense" }, "listen: must be host:port"},
		{"cert without key", func(c *Config) { c.TLSCert = "x.pem" }, "tls_key:"},
		{"unknown driver", func(c *Config) { c.Database.Driver = "mysql" }, "database.driver:"},
		{"empty db path", func(c *Config) { c.Database.Path = "" }, "database.path:"},
		{"short user ttl", func(c *Config) { c.Tokens.UserTTL = time.Second }, "tokens.user_ttl:"},
		{"zero attempts", func(c *Config) { c.Verification.MaxAttempts = 0 }, "verification.max_attempts:"},
		{"tiny retry_after", func(c *Config) { c.Verification.RetryAfterMS = 1 }, "verification.retry_after_ms:"},
		{"no workers", func(c *Config) { c.Processing.Workers = 0 }, "processing.workers:"},
		{"short lease", func(c *Config) { c.Processing.Lease = time.Millisecond }, "processing.lease:"},
		{"negative retries", func(c *Config) { c.Reference.Retries = -1 }, "reference.retries:"},
		{"lease shorter than a reference fetch", func(c *Config) { c.Processing.Lease = 30 * time.Second }, "processing.lease: must exceed the reference fetch budget (1m31s"},
		{"backoff order", func(c *Config) { c.Callback.MaxBackoff = time.Millisecond }, "callback.max_backoff:"},
		{"tiny selfie limit", func(c *Config) { c.Limits.MaxSelfieBytes = 10 }, "limits.max_selfie_bytes:"},
		{"inference threshold", func(c *Config) { c.Inference.LivenessThreshold = 1.5 }, "inference.liveness_threshold:"},
		{"unknown embedder", func(c *Config) { c.Inference.Embedder = "arcface" }, `inference.embedder: must be "fr_feature" or "mobilefacenet", got "arcface"`},
		{"match threshold above 1", func(c *Config) { c.Inference.MatchThreshold = 1.2 }, "inference.match_threshold:"},
		{"no partners", func(c *Config) { c.Partners = nil }, "partners: at least one"},
		{"bad client id", func(c *Config) { c.Partners[0].ClientID = "a b" }, "partners[0].client_id:"},
		{"missing passkey hash", func(c *Config) { c.Partners[0].PasskeyHashes = nil }, "partners[0].passkey_hashes: must hold 1 or 2 argon2id hashes"},
		{"three passkey hashes", func(c *Config) { c.Partners[0].PasskeyHashes = []string{acmeHash, acmeHash, acmeHash} }, "partners[0].passkey_hashes: must hold 1 or 2"},
		{"plaintext in passkey_hashes", func(c *Config) { c.Partners[0].PasskeyHashes = []string{"acme-passkey-0123456789"} }, "partners[0].passkey_hashes[0]: not an argon2id PHC string"},
		{"weak passkey hash", func(c *Config) {
			c.Partners[0].PasskeyHashes = []string{acmeHash, hashPasskeyWith("x", Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})}
		}, "partners[0].passkey_hashes[1]: argon2id cost m=64,t=1 is below the floor"},
		{"short salt", func(c *Config) {
			c.Partners[0].PasskeyHashes = []string{hashPasskeyWith("x", Argon2Params{Memory: 8192, Time: 5, Threads: 1, SaltLen: 8, KeyLen: 32})}
		}, "partners[0].passkey_hashes[0]: argon2id salt is 8 bytes"},
		{"rate per minute", func(c *Config) { c.Limits.Rate.TokenClient.PerMinute = 0 }, "limits.rate.token_client.per_minute: must be > 0"},
		{"rate burst", func(c *Config) { c.Limits.Rate.SubmitDevice.Burst = 0 }, "limits.rate.submit_device.burst:"},
		{"rate max keys", func(c *Config) { c.Limits.Rate.MaxKeys = 1 }, "limits.rate.max_keys:"},
		{"passkey checks", func(c *Config) { c.Limits.Rate.PasskeyChecks = 0 }, "limits.rate.passkey_checks:"},
		{"trusted proxy", func(c *Config) { c.Limits.Rate.TrustedProxies = []string{"10.0.0.0/8", "proxy.internal"} }, `limits.rate.trusted_proxies: [1]: "proxy.internal" is not an IP address`},
		{"lockout failures", func(c *Config) { c.Limits.Lockout.Failures = 0 }, "limits.lockout.failures: must be in [1,100]"},
		{"lockout window", func(c *Config) { c.Limits.Lockout.Window = time.Second }, "limits.lockout.window:"},
		{"partner lockout", func(c *Config) { c.Partners[0].Lockout.Failures = 101 }, "partners[0].lockout.failures:"},
		{"partner lockout window", func(c *Config) { c.Partners[0].Lockout.Window = -time.Minute }, "partners[0].lockout.window:"},
		{"relative reference url", func(c *Config) { c.Partners[0].ReferenceURL = "/reference" }, "partners[0].reference_url: must be an absolute http(s) URL"},
		{"ftp callback url", func(c *Config) { c.Partners[0].CallbackURL = "ftp://x/cb" }, "partners[0].callback_url:"},
		{"unknown flow", func(c *Config) { c.Partners[0].Flows = []string{"selfie", "passport"} }, "partners[0].flows[1]:"},
		{"duplicate partner", func(c *Config) { c.Partners = append(c.Partners, c.Partners[0]) }, "partners[1].client_id: duplicate"},
		{"callback secret missing", func(c *Config) { c.Callback.Secret = "" }, "partners[0].callback_secrets: required when callback_url is set: set FACEGATEWAY_PARTNER_ACME_CALLBACK_SECRET"},
		{"plain http reference off loopback", func(c *Config) { c.Partners[0].ReferenceURL = "http://partner.example/reference" }, "partners[0].reference_url: must be https"},
		{"plain http callback off loopback", func(c *Config) { c.Partners[0].CallbackURL = "http://partner.example/cb" }, "partners[0].callback_url: must be https"},
		{"bad image host", func(c *Config) { c.Partners[0].ImageHosts = []string{"https://cdn.example"} }, "partners[0].image_hosts[0]:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want prefix %q", err, tt.want)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		if err := validConfig().Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("tls on all interfaces", func(t *testing.T) {
		c := validConfig()
		c.Listen, c.TLSCert, c.TLSKey = ":8443", "c.pem", "k.pem"
		c.Audit.Key = "audit-key-0123456789" // required off loopback
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("explicit plaintext", func(t *testing.T) {
		c := validConfig()
		c.Listen, c.InsecureAllowPlaintext = "0.0.0.0:8080", true
		c.Audit.Key = "audit-key-0123456789"
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDecodeConfig(t *testing.T) {
	cfg, err := DecodeConfig(strings.NewReader(`
listen = "127.0.0.1:9000"
[tokens]
user_ttl = "5m"
[verification]
max_attempts = 5
[inference]
match_threshold = 0.4
[[partners]]
client_id = "acme"
reference_url = "https://partner.example/reference"
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9000" || cfg.Tokens.UserTTL != 5*time.Minute || cfg.Verification.MaxAttempts != 5 {
		t.Errorf("decoded %+v", cfg)
	}
	if cfg.Tokens.PartnerTTL != time.Hour || cfg.Inference.LivenessThreshold != DefaultConfig().Inference.LivenessThreshold {
		t.Errorf("defaults not kept: partner_ttl %v liveness %v", cfg.Tokens.PartnerTTL, cfg.Inference.LivenessThreshold)
	}
	if cfg.Inference.MatchThreshold != 0.4 {
		t.Errorf("match_threshold = %v", cfg.Inference.MatchThreshold)
	}
	if got := cfg.Partners[0].Flows; len(got) != 2 {
		t.Errorf("default flows = %v", got)
	}
}

func TestDecodeConfigRejectsUnknownKeys(t *testing.T) {
	tests := []struct{ toml, key string }{
		{"listen_addr = \"x\"", `listen_addr (line 1)`},
		{"[tokens]\nuser_tll = \"1m\"", `tokens.user_tll (line 2; did you mean tokens.user_ttl?)`},
		{"[inference]\nmatch = 0.3", `inference.match (line 2)`},
	}
	for _, tt := range tests {
		_, err := DecodeConfig(strings.NewReader(tt.toml))
		if err == nil || !strings.Contains(err.Error(), "unknown key "+tt.key) {
			t.Errorf("DecodeConfig(%q) = %v, want unknown key %s", tt.toml, err, tt.key)
		}
	}
}

func TestResolveSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cb")
	if err := os.WriteFile(file, []byte("file-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := validConfig()
	c.Callback.Secret = ""
	c.Callback.SecretFile = file
	env := map[string]string{"FACEGATEWAY_PARTNER_ACME_PASSKEY": "env-passkey-0123456789"}
	if err := c.ResolveSecrets(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Callback.Secret != "file-secret-0123456789" {
		t.Errorf("callback secret %q", c.Callback.Secret)
	}
	// The gateway holds hashes only: a plaintext passkey in the
	// environment is not read.
	if !reflect.DeepEqual(c.Partners[0].PasskeyHashes, []string{acmeHash}) {
		t.Errorf("passkey_hashes changed by the environment: %q", c.Partners[0].PasskeyHashes)
	}
	c.Callback.SecretFile = filepath.Join(dir, "missing")
	err := c.ResolveSecrets(func(string) string { return "" })
	if err == nil || !strings.HasPrefix(err.Error(), "callback.secret_file:") {
		t.Errorf("missing file: %v", err)
	}
}

// TestPlaintextPasskeyKeysRefused: the keys of plaintext passkeys are
// refused with a message naming what replaces them.
func TestPlaintextPasskeyKeysRefused(t *testing.T) {
	for _, key := range []string{"passkey", "passkey_file"} {
		_, err := DecodeConfig(strings.NewReader("[[partners]]\nclient_id = \"a\"\n" + key + " = \"x\""))
		if err == nil || !strings.Contains(err.Error(), "partners."+key+" (line 3") ||
			!strings.Contains(err.Error(), "plaintext passkeys are no longer read") ||
			!strings.Contains(err.Error(), "facegateway partners hash-passkey") {
			t.Errorf("%s: %v", key, err)
		}
	}
}

func TestExampleConfigLoads(t *testing.T) {
	env := map[string]string{"FACEGATEWAY_PARTNER_DEMO_CALLBACK_SECRET": "demo-callback-secret-0123456789abcdef"}
	cfg, err := LoadConfig("../cmd/facegateway/facegateway.example.toml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	if cfg.Tokens != want.Tokens || cfg.Processing != want.Processing || cfg.Reference != want.Reference ||
		!reflect.DeepEqual(cfg.Limits, want.Limits) || cfg.Verification != want.Verification || cfg.Inference != want.Inference {
		t.Errorf("example config differs from DefaultConfig")
	}
	if k, ok := cfg.callbackKey(cfg.Partners[0]); !ok || k.ID != DefaultCallbackKeyID {
		t.Errorf("demo partner's callback key = %q %v, want %q from the environment", k.ID, ok, DefaultCallbackKeyID)
	}
	// The partner entry is an example, but its switches show their
	// defaults: the demo's loopback exception is a comment, not a value.
	for i, p := range cfg.Partners {
		if p.AllowPrivateNetwork || p.InsecureAllowHTTP || p.Lockout != (LockoutConfig{}) {
			t.Errorf("example partners[%d]: allow_private_network %v, insecure_allow_http %v, lockout %+v; want the defaults (false, false, unset)",
				i, p.AllowPrivateNetwork, p.InsecureAllowHTTP, p.Lockout)
		}
	}
}

func FuzzDecodeConfig(f *testing.F) {
	if b, err := os.ReadFile("../cmd/facegateway/facegateway.example.toml"); err == nil {
		f.Add(string(b))
	}
	f.Add("listen = 1")
	f.Add("[[partners]]\nflows = [1]")
	f.Add("[tokens]\nuser_ttl = \"-5m\"")
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := DecodeConfig(strings.NewReader(s))
		if err != nil {
			return
		}
		_ = cfg.Validate() // must not panic
	})
}

// TestDecodeConfigEmbedder: the embedder picks the default match
// threshold; a match_threshold in the file always wins.
func TestDecodeConfigEmbedder(t *testing.T) {
	tests := []struct {
		name      string
		inference string
		embedder  string
		threshold float64
	}{
		{"defaults", "", inference.EmbedderFRFeature, 0.35},
		{"fr_feature named", `embedder = "fr_feature"`, inference.EmbedderFRFeature, 0.35},
		{"mobilefacenet", `embedder = "mobilefacenet"`, inference.EmbedderMobileFaceNet, 0.45},
		{"mobilefacenet, explicit threshold", "embedder = \"mobilefacenet\"\nmatch_threshold = 0.5", inference.EmbedderMobileFaceNet, 0.5},
		{"mobilefacenet, explicit 0.35", "match_threshold = 0.35\nembedder = \"mobilefacenet\"", inference.EmbedderMobileFaceNet, 0.35},
		{"fr_feature, explicit threshold", "match_threshold = 0.3", inference.EmbedderFRFeature, 0.3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := DecodeConfig(strings.NewReader("[inference]\n" + tt.inference + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Inference.Embedder != tt.embedder || cfg.Inference.MatchThreshold != tt.threshold {
				t.Errorf("embedder %q threshold %v, want %q %v", cfg.Inference.Embedder, cfg.Inference.MatchThreshold, tt.embedder, tt.threshold)
			}
		})
	}
}
