package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/partnerdemo"
)

const partnerUsage = `usage: facegateway partner -references DIR [flags]

Runs the sample partner backend: serves reference photos (DIR/<partner_user_id>.jpg,
.jpeg or .png) to the gateway, receives its signed callbacks and offers kiosks
POST /sessions and GET /sessions/{correlation_id}.

Secrets:
  FACEPARTNER_PASSKEY          the partner's passkey (or -passkey-file; falls back to
                               FACEGATEWAY_PARTNER_<CLIENT_ID>_PASSKEY). This is the
                               client side: the partner sends its passkey to POST
                               /v1/token. The gateway never reads a passkey from the
                               environment; it holds only argon2id hashes
                               (partners[].passkey_hashes).
  FACEPARTNER_CALLBACK_SECRET  callback HMAC key (falls back to FACEGATEWAY_CALLBACK_SECRET)

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
	cfg.CallbackSecret = firstEnv(partnerdemo.EnvCallbackSecret, gateway.EnvCallbackSecret)
	if cfg.CallbackSecret == "" {
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

// firstEnv returns the first non-empty environment variable of names.
func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
