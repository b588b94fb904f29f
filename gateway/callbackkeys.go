package gateway

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/internal/validate"
)

// Per-partner callback keys.
//
// Every partner with a callback_url has its own HMAC-SHA256 keys, each with
// a key id, listed signing key first:
//
//	[[partners]]
//	client_id = "acme"
//	callback_secrets = [{ id = "k2", file = "/run/secrets/acme_cb_k2" },
//	                    { id = "k1", file = "/run/secrets/acme_cb_k1" }]
//
// The first key signs every delivery and SignatureHeader names its id; the
// keys after it are retiring keys, kept listed (and checked) until the
// partner has stopped accepting them. A rotation is: the partner starts
// accepting the new key id besides the old one; the new key is put first and
// the replicas are restarted (while they roll, some sign with the old key,
// some with the new: the partner accepts both); once every replica signs
// with the new key the partner drops the old one and so does this list.
//
// Secrets are never in the TOML file: each entry's file holds it, or
// FACEGATEWAY_PARTNER_<CLIENT_ID>_CALLBACK_SECRET supplies the secret of the
// key named by FACEGATEWAY_PARTNER_<CLIENT_ID>_CALLBACK_KEY_ID (default: the
// first listed id, or DefaultCallbackKeyID when none is listed); an id not
// listed is added as the signing key. The environment wins over a file.
//
// The gateway refuses to start when two partners would hold the same secret,
// so one partner's key can never sign a callback another partner accepts.
// The old single secret (FACEGATEWAY_CALLBACK_SECRET, callback.secret_file)
// is still accepted, for one partner only, as key id GlobalCallbackKeyID.

// Environment variables and defaults of per-partner callback keys.
const (
	// EnvPartnerCallbackSecretFormat names a partner's callback secret
	// variable; %s is the client_id as in EnvPartnerPasskeyFormat.
	EnvPartnerCallbackSecretFormat = "FACEGATEWAY_PARTNER_%s_CALLBACK_SECRET"
	// EnvPartnerCallbackKeyIDFormat names the variable holding the key id
	// of that secret.
	EnvPartnerCallbackKeyIDFormat = "FACEGATEWAY_PARTNER_%s_CALLBACK_KEY_ID"
	// DefaultCallbackKeyID is the key id of an environment secret when
	// neither the key-id variable nor callback_secrets names one.
	DefaultCallbackKeyID = "k1"
	// GlobalCallbackKeyID is the key id under which the deprecated single
	// callback.secret signs.
	GlobalCallbackKeyID = "global"
	// MinCallbackSecretLen is the shortest per-partner secret, in bytes:
	// 32, the HMAC-SHA256 block's worth of entropy when generated as
	// `openssl rand -hex 32` (64 characters) or `-base64 32`.
	MinCallbackSecretLen = 32
)

// CallbackSecretConfig is one callback key of a partner.
type CallbackSecretConfig struct {
	// ID is the key id named in api.SignatureHeader: 1–64 characters of
	// [A-Za-z0-9._-], unique within the partner.
	ID string `toml:"id"`
	// File holds the secret (surrounding whitespace trimmed).
	File string `toml:"file"`
	// Secret is not read from the TOML file: it comes from File or the
	// partner's callback-secret environment variable.
	Secret string `toml:"-"`
}

// envClientID is clientID upper-cased with every character outside
// [A-Z0-9] replaced by '_'.
func envClientID(clientID string) string {
	b := []byte(strings.ToUpper(clientID))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// PartnerCallbackSecretEnv is the environment variable holding clientID's
// callback secret (client "acme-bank" →
// FACEGATEWAY_PARTNER_ACME_BANK_CALLBACK_SECRET).
func PartnerCallbackSecretEnv(clientID string) string {
	return fmt.Sprintf(EnvPartnerCallbackSecretFormat, envClientID(clientID))
}

// PartnerCallbackKeyIDEnv is the environment variable naming the key id of
// PartnerCallbackSecretEnv's secret.
func PartnerCallbackKeyIDEnv(clientID string) string {
	return fmt.Sprintf(EnvPartnerCallbackKeyIDFormat, envClientID(clientID))
}

// resolveCallbackKeys fills the partners' callback secrets from their files
// and the environment (which wins). read reads a secret file, naming field
// in its error.
func (c *Config) resolveCallbackKeys(getenv func(string) string, read func(field, path string) (string, error)) error {
	for i := range c.Partners {
		p := &c.Partners[i]
		for j := range p.CallbackSecrets {
			k := &p.CallbackSecrets[j]
			if k.File == "" {
				continue
			}
			s, err := read(fmt.Sprintf("partners[%d].callback_secrets[%d].file", i, j), k.File)
			if err != nil {
				return err
			}
			k.Secret = s
		}
		secret, kid := getenv(PartnerCallbackSecretEnv(p.ClientID)), getenv(PartnerCallbackKeyIDEnv(p.ClientID))
		if secret == "" {
			if kid != "" {
				return fmt.Errorf("%s: set without %s", PartnerCallbackKeyIDEnv(p.ClientID), PartnerCallbackSecretEnv(p.ClientID))
			}
			continue
		}
		if kid == "" {
			kid = DefaultCallbackKeyID
			if len(p.CallbackSecrets) > 0 {
				kid = p.CallbackSecrets[0].ID
			}
		}
		found := false
		for j := range p.CallbackSecrets {
			if p.CallbackSecrets[j].ID == kid {
				p.CallbackSecrets[j].Secret, found = secret, true
			}
		}
		if !found {
			p.CallbackSecrets = append([]CallbackSecretConfig{{ID: kid, Secret: secret}}, p.CallbackSecrets...)
		}
	}
	return nil
}

// validateCallbackKeys checks the partners' callback keys: valid, unique
// ids; secrets of at least MinCallbackSecretLen; a key for every partner
// with a callback_url; no secret held by two partners; the deprecated
// global secret used by one partner at most.
func (c Config) validateCallbackKeys() error {
	owner := map[[32]byte]string{} // secret hash → client id
	claim := func(field, secret, clientID string) error {
		h := sha256.Sum256([]byte(secret))
		if other, ok := owner[h]; ok && other != clientID {
			return errField(field, "the same secret is partner %q's: every partner needs its own callback secret", other)
		}
		owner[h] = clientID
		return nil
	}
	var onGlobal []string
	for i, p := range c.Partners {
		ids := map[string]bool{}
		for j, k := range p.CallbackSecrets {
			f := fmt.Sprintf("partners[%d].callback_secrets[%d]", i, j)
			if !validate.ID(k.ID, 64) {
				return errField(f+".id", "must be 1–64 characters of [A-Za-z0-9._-], got %q", k.ID)
			}
			if ids[k.ID] {
				return errField(f+".id", "duplicate key id %q", k.ID)
			}
			ids[k.ID] = true
			if len(k.Secret) < MinCallbackSecretLen {
				return errField(f, "secret of key %q must be ≥ %d characters; set its file or %s (with %s=%s)",
					k.ID, MinCallbackSecretLen, PartnerCallbackSecretEnv(p.ClientID), PartnerCallbackKeyIDEnv(p.ClientID), k.ID)
			}
			if err := claim(f, k.Secret, p.ClientID); err != nil {
				return err
			}
		}
		if p.CallbackURL != "" && len(p.CallbackSecrets) == 0 {
			onGlobal = append(onGlobal, p.ClientID)
		}
	}
	switch {
	case len(onGlobal) == 0:
		return nil
	case len(onGlobal) > 1 && c.Callback.Secret != "":
		return errField("callback.secret", "would be shared by partners %q: give each partner its own key (partners[].callback_secrets or %s)",
			onGlobal, fmt.Sprintf(EnvPartnerCallbackSecretFormat, "<CLIENT_ID>"))
	case len(c.Callback.Secret) < 16:
		i := 0
		for i < len(c.Partners) && c.Partners[i].ClientID != onGlobal[0] {
			i++
		}
		return errField(fmt.Sprintf("partners[%d].callback_secrets", i), "required when callback_url is set: set %s or list keys with files",
			PartnerCallbackSecretEnv(onGlobal[0]))
	}
	return claim("callback.secret", c.Callback.Secret, onGlobal[0])
}

// callbackKey is the key that signs the partner's callbacks: its first
// listed key, or the deprecated global secret; false when it has none.
func (c *Config) callbackKey(p PartnerConfig) (api.CallbackKey, bool) {
	if len(p.CallbackSecrets) > 0 {
		k := p.CallbackSecrets[0]
		return api.CallbackKey{ID: k.ID, Secret: []byte(k.Secret)}, true
	}
	if c.Callback.Secret != "" {
		return api.CallbackKey{ID: GlobalCallbackKeyID, Secret: []byte(c.Callback.Secret)}, true
	}
	return api.CallbackKey{}, false
}

// UsesGlobalCallbackSecret reports the client id of the partner whose
// callbacks are signed with the deprecated callback.secret, if any (serve
// warns about it at start).
func (c *Config) UsesGlobalCallbackSecret() (string, bool) {
	for _, p := range c.Partners {
		if p.CallbackURL != "" && len(p.CallbackSecrets) == 0 && c.Callback.Secret != "" {
			return p.ClientID, true
		}
	}
	return "", false
}
