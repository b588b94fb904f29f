package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	secretA  = "acme-callback-secret-0123456789abcdef"
	secretA2 = "acme-callback-secret-rotated-0123456789"
	secretB  = "bank2-callback-secret-0123456789abcdef"
)

// twoPartners is a valid configuration of two partners with callbacks, each
// with its own key.
func twoPartners() Config {
	c := validConfig()
	c.Callback.Secret = ""
	c.Partners[0].CallbackSecrets = []CallbackSecretConfig{{ID: "a1", Secret: secretA}}
	c.Partners = append(c.Partners, PartnerConfig{ClientID: "bank-2", PasskeyHashes: []string{acmeHash}, AllowPrivateNetwork: true,
		ReferenceURL: "http://127.0.0.1:8091/reference", CallbackURL: "http://127.0.0.1:8091/callback", Flows: []string{"selfie"},
		CallbackSecrets: []CallbackSecretConfig{{ID: "b1", Secret: secretB}}})
	return c
}

func TestValidateCallbackKeys(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // error prefix; "" = valid
	}{
		{"own keys", func(*Config) {}, ""},
		{"rotation overlap", func(c *Config) {
			c.Partners[0].CallbackSecrets = []CallbackSecretConfig{{ID: "a2", Secret: secretA2}, {ID: "a1", Secret: secretA}}
		}, ""},
		{"same secret for two partners", func(c *Config) { c.Partners[1].CallbackSecrets[0].Secret = secretA },
			`partners[1].callback_secrets[0]: the same secret is partner "acme"'s`},
		{"retiring key shared with another partner", func(c *Config) {
			c.Partners[1].CallbackSecrets = append(c.Partners[1].CallbackSecrets, CallbackSecretConfig{ID: "b0", Secret: secretA})
		}, `partners[1].callback_secrets[1]: the same secret is partner "acme"'s`},
		{"global secret shared by two partners", func(c *Config) {
			c.Callback.Secret = "global-secret-0123456789"
			c.Partners[0].CallbackSecrets, c.Partners[1].CallbackSecrets = nil, nil
		}, `callback.secret: would be shared by partners ["acme" "bank-2"]`},
		{"global secret for one partner (deprecated)", func(c *Config) {
			c.Callback.Secret = "global-secret-0123456789"
			c.Partners[1].CallbackSecrets = nil
		}, ""},
		{"global secret equal to another partner's key", func(c *Config) {
			c.Callback.Secret = secretA
			c.Partners[1].CallbackSecrets = nil
		}, `callback.secret: the same secret is partner "acme"'s`},
		{"no key", func(c *Config) { c.Partners[1].CallbackSecrets = nil },
			"partners[1].callback_secrets: required when callback_url is set: set FACEGATEWAY_PARTNER_BANK_2_CALLBACK_SECRET"},
		{"no key, no callback url", func(c *Config) { c.Partners[1].CallbackSecrets, c.Partners[1].CallbackURL = nil, "" }, ""},
		{"short secret", func(c *Config) { c.Partners[0].CallbackSecrets[0].Secret = "short-secret-0123456789" },
			`partners[0].callback_secrets[0]: secret of key "a1" must be ≥ 32 characters`},
		{"bad key id", func(c *Config) { c.Partners[0].CallbackSecrets[0].ID = "a 1" }, "partners[0].callback_secrets[0].id:"},
		{"duplicate key id", func(c *Config) {
			c.Partners[0].CallbackSecrets = append(c.Partners[0].CallbackSecrets, CallbackSecretConfig{ID: "a1", Secret: secretA2})
		}, `partners[0].callback_secrets[1].id: duplicate key id "a1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := twoPartners()
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

func TestCallbackKeySelection(t *testing.T) {
	c := twoPartners()
	c.Partners[0].CallbackSecrets = []CallbackSecretConfig{{ID: "a2", Secret: secretA2}, {ID: "a1", Secret: secretA}}
	if k, ok := c.callbackKey(c.Partners[0]); !ok || k.ID != "a2" || string(k.Secret) != secretA2 {
		t.Errorf("signing key = %q %q %v, want the first listed (a2)", k.ID, k.Secret, ok)
	}
	if k, ok := c.callbackKey(c.Partners[1]); !ok || k.ID != "b1" || string(k.Secret) != secretB {
		t.Errorf("bank-2 key = %q %v", k.ID, ok)
	}
	c.Callback.Secret = "global-secret-0123456789"
	c.Partners[1].CallbackSecrets = nil
	if k, ok := c.callbackKey(c.Partners[1]); !ok || k.ID != GlobalCallbackKeyID || string(k.Secret) != c.Callback.Secret {
		t.Errorf("fallback key = %q %v", k.ID, ok)
	}
	if id, ok := c.UsesGlobalCallbackSecret(); !ok || id != "bank-2" {
		t.Errorf("UsesGlobalCallbackSecret = %q %v", id, ok)
	}
}

func TestResolveCallbackKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k1 := write("k1", secretA)
	tests := []struct {
		name  string
		keys  []CallbackSecretConfig
		env   map[string]string
		want  []CallbackSecretConfig // IDs and secrets
		error string
	}{
		{"files", []CallbackSecretConfig{{ID: "a2", File: write("a2", secretA2)}, {ID: "a1", File: k1}}, nil,
			[]CallbackSecretConfig{{ID: "a2", Secret: secretA2}, {ID: "a1", Secret: secretA}}, ""},
		{"env only, default id", nil, map[string]string{"FACEGATEWAY_PARTNER_ACME_CALLBACK_SECRET": secretA},
			[]CallbackSecretConfig{{ID: DefaultCallbackKeyID, Secret: secretA}}, ""},
		{"env with key id", nil, map[string]string{"FACEGATEWAY_PARTNER_ACME_CALLBACK_SECRET": secretA, "FACEGATEWAY_PARTNER_ACME_CALLBACK_KEY_ID": "2025-06"},
			[]CallbackSecretConfig{{ID: "2025-06", Secret: secretA}}, ""},
		{"env wins over the first key's file", []CallbackSecretConfig{{ID: "a1", File: k1}},
			map[string]string{"FACEGATEWAY_PARTNER_ACME_CALLBACK_SECRET": secretA2},
			[]CallbackSecretConfig{{ID: "a1", Secret: secretA2}}, ""},
		{"env adds a new signing key before the listed one", []CallbackSecretConfig{{ID: "a1", File: k1}},
			map[string]string{"FACEGATEWAY_PARTNER_ACME_CALLBACK_SECRET": secretA2, "FACEGATEWAY_PARTNER_ACME_CALLBACK_KEY_ID": "a2"},
			[]CallbackSecretConfig{{ID: "a2", Secret: secretA2}, {ID: "a1", Secret: secretA}}, ""},
		{"key id without secret", nil, map[string]string{"FACEGATEWAY_PARTNER_ACME_CALLBACK_KEY_ID": "a2"}, nil,
			"FACEGATEWAY_PARTNER_ACME_CALLBACK_KEY_ID: set without FACEGATEWAY_PARTNER_ACME_CALLBACK_SECRET"},
		{"missing file", []CallbackSecretConfig{{ID: "a1", File: filepath.Join(dir, "missing")}}, nil, nil,
			"partners[0].callback_secrets[0].file:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			c.Callback.Secret = ""
			c.Partners[0].CallbackSecrets = tt.keys
			err := c.ResolveSecrets(func(k string) string { return tt.env[k] })
			if tt.error != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.error) {
					t.Fatalf("ResolveSecrets = %v, want prefix %q", err, tt.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := c.Partners[0].CallbackSecrets
			if len(got) != len(tt.want) {
				t.Fatalf("keys %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].ID != tt.want[i].ID || got[i].Secret != tt.want[i].Secret {
					t.Errorf("key %d = %s/%q, want %s/%q", i, got[i].ID, got[i].Secret, tt.want[i].ID, tt.want[i].Secret)
				}
			}
			if err := c.Validate(); err != nil {
				t.Errorf("resolved config invalid: %v", err)
			}
		})
	}
}

// TestCallbackSecretsNotInTOML: a secret written in the file is an unknown
// key, refused by name.
func TestCallbackSecretsNotInTOML(t *testing.T) {
	_, err := DecodeConfig(strings.NewReader(`
[[partners]]
client_id = "acme"
callback_secrets = [{ id = "k1", secret = "in-the-file-0123456789" }]
`))
	if err == nil || !strings.Contains(err.Error(), "unknown key partners.callback_secrets.secret") {
		t.Fatalf("DecodeConfig = %v, want unknown key partners.callback_secrets.secret", err)
	}
}
