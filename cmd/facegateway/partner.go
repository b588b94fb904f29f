package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/partnerdemo"
)

const partnerUsage = `usage: facegateway partner -references DIR [flags]

Runs the sample partner backend: serves reference photos (DIR/<partner_user_id>.jpg,
.jpeg or .png) to the gateway, receives its signed callbacks and offers kiosks
POST /sessions and GET /sessions/{correlation_id}.

Callbacks are accepted only when signed with one of this partner's own keys
(selected by the signature's key id) and addressed to its client id; a
redelivered callback (same delivery id) is acknowledged and not processed
again (the last 10 000 delivery ids are remembered, in memory).

Secrets:
  FACEPARTNER_PASSKEY          the partner's passkey (or -passkey-file; falls back to
                               FACEGATEWAY_PARTNER_<CLIENT_ID>_PASSKEY). This is the
                               client side: the partner sends its passkey to POST
                               /v1/token. The gateway never reads a passkey from the
                               environment; it holds only argon2id hashes
                               (partners[].passkey_hashes).
  FACEPARTNER_CALLBACK_SECRET  this partner's callback key (falls back to
                               FACEGATEWAY_PARTNER_<CLIENT_ID>_CALLBACK_SECRET, then to the
                               deprecated shared FACEGATEWAY_CALLBACK_SECRET, key id "global")
  FACEPARTNER_CALLBACK_KEY_ID  its key id (falls back to
                               FACEGATEWAY_PARTNER_<CLIENT_ID>_CALLBACK_KEY_ID; unset: any key id)
  -callback-key ID=FILE        more keys, e.g. the old one during a rotation (repeatable)

Flags:
`

// partnerMain implements `facegateway partner`.
func partnerMain(ctx context.Context, args []string, _, stderr io.Writer) int {
	cfg := partnerdemo.DefaultConfig()
	fs := flag.NewFlagSet("partner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, partnerUsage); fs.PrintDefaults() }
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "partner listen address")
	fs.StringVar(&cfg.GatewayURL, "gateway", cfg.GatewayURL, "gateway base URL")
	fs.StringVar(&cfg.KioskBaseURL, "kiosk-base-url", "", "base_url handed to kiosks (default: -gateway)")
	fs.StringVar(&cfg.ClientID, "client-id", "demo", "the partner's client_id at the gateway")
	fs.StringVar(&cfg.ReferenceDir, "references", "", "folder of reference photos named <partner_user_id>.jpg|.jpeg|.png")
	passkeyFile := fs.String("passkey-file", "", "file holding the passkey (instead of the environment)")
	var keyFiles keyFileFlag
	fs.Var(&keyFiles, "callback-key", "`ID=FILE`: another callback key accepted (e.g. during a rotation); repeatable")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintf(stderr, "facegateway partner: %v\n", err)
		return 2
	}
	cfg.Passkey = firstEnv(partnerdemo.EnvPasskey, gateway.PartnerPasskeyEnv(cfg.ClientID))
	if cfg.Passkey == "" && *passkeyFile != "" {
		b, err := os.ReadFile(*passkeyFile)
		if err != nil {
			fmt.Fprintf(stderr, "facegateway partner: -passkey-file: %v\n", err)
			return 1
		}
		cfg.Passkey = string(bytes.TrimSpace(b))
	}
	keys, err := partnerCallbackKeys(cfg.ClientID, os.Getenv, keyFiles)
	if err != nil {
		fmt.Fprintf(stderr, "facegateway partner: %v\n", err)
		return 1
	}
	cfg.CallbackKeys = keys
	if len(keys) == 0 {
		log.Warn("no callback secret set: callbacks are accepted unsigned", "env", partnerdemo.EnvCallbackSecret)
	}
	p, err := partnerdemo.New(cfg, partnerdemo.Options{Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "facegateway partner: %v\n", err)
		return 1
	}
	defer p.Close()
	if err := p.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "facegateway partner: %v\n", err)
		return 1
	}
	return 0
}

// keyFileFlag collects -callback-key ID=FILE values.
type keyFileFlag []string

func (k *keyFileFlag) String() string { return strings.Join(*k, ",") }
func (k *keyFileFlag) Set(v string) error {
	id, file, ok := strings.Cut(v, "=")
	if !ok || id == "" || file == "" {
		return fmt.Errorf("want ID=FILE, got %q", v)
	}
	*k = append(*k, v)
	return nil
}

// partnerCallbackKeys is the sample partner's keyring: the environment's
// key first (FACEPARTNER_CALLBACK_SECRET with FACEPARTNER_CALLBACK_KEY_ID,
// else the gateway's per-partner variables, else the deprecated shared
// secret as key id "global"), then one key per ID=FILE.
func partnerCallbackKeys(clientID string, getenv func(string) string, files []string) ([]api.CallbackKey, error) {
	var keys []api.CallbackKey
	first := func(names ...string) string {
		for _, n := range names {
			if v := getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	if secret := first(partnerdemo.EnvCallbackSecret, gateway.PartnerCallbackSecretEnv(clientID)); secret != "" {
		keys = append(keys, api.CallbackKey{ID: first(partnerdemo.EnvCallbackKeyID, gateway.PartnerCallbackKeyIDEnv(clientID)), Secret: []byte(secret)})
	} else if secret := getenv(gateway.EnvCallbackSecret); secret != "" {
		keys = append(keys, api.CallbackKey{ID: gateway.GlobalCallbackKeyID, Secret: []byte(secret)})
	}
	for _, f := range files {
		id, path, _ := strings.Cut(f, "=")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("-callback-key %s: %w", id, err)
		}
		keys = append(keys, api.CallbackKey{ID: id, Secret: bytes.TrimSpace(b)})
	}
	return keys, nil
}

// firstEnv returns the first non-empty environment variable of names.
func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
