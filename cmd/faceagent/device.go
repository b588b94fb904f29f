package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/faceverify/faceverify/agent"
	"github.com/faceverify/faceverify/agent/config"
	"github.com/faceverify/faceverify/agent/identity"
	"github.com/faceverify/faceverify/uplink/gateway"
	"github.com/faceverify/faceverify/uplink/spool"
)

// EnvEnrollToken holds the gateway operator's enrollment token for
// `faceagent enroll`.
const EnvEnrollToken = "FACEAGENT_ENROLL_TOKEN"

// newUplink builds the gateway client (signing uploads with the device key
// of identity.key_file, created on first start) and, when spool.enabled,
// the offline spool in front of it.
func newUplink(cfg config.Config, logger *slog.Logger) (*gateway.Client, agent.Spool, error) {
	opts := gateway.Options{
		SubmitTimeout: cfg.Session.UploadTimeout,
		StatusTimeout: cfg.Session.StatusTimeout,
		UserAgent:     "faceagent/" + versionString(),
	}
	if cfg.Identity.KeyFile != "" {
		id, created, err := identity.LoadOrCreate(cfg.Identity.KeyFile, cfg.Device.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("identity.key_file: %w", err)
		}
		if created {
			logger.Warn("device key created; register it with the gateway (faceagent enroll)",
				"key_file", cfg.Identity.KeyFile, "fingerprint", id.Fingerprint())
		} else {
			logger.Info("device key loaded", "fingerprint", id.Fingerprint())
		}
		opts.Signer = id
	} else {
		logger.Warn("identity.key_file is empty: uploads are not signed")
	}
	gw := gateway.New(opts)
	if !cfg.Spool.Enabled {
		logger.Info("offline spool disabled (spool.enabled = false)")
		return gw, nil, nil
	}
	key, created, err := spool.LoadOrCreateKey(cfg.Spool.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("spool.key_file: %w", err)
	}
	if created {
		logger.Info("spool key created", "key_file", cfg.Spool.KeyFile)
	}
	sp, err := spool.New(spool.Options{
		Dir: cfg.Spool.Dir, Key: key, Next: gw,
		MaxBytes: cfg.Spool.MaxBytes, MaxCount: cfg.Spool.MaxCount, MaxAge: cfg.Spool.MaxAge,
		RetryInitial: cfg.Spool.RetryInitial, RetryMax: cfg.Spool.RetryMax,
		ClockFloor: cfg.ClockFloor(), Logger: logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("spool.dir: %w", err)
	}
	if now := time.Now(); now.Before(cfg.ClockFloor()) {
		logger.Warn("clock not synced: uploads wait in the spool until it is", "now", now.UTC(), "clock_min_valid", cfg.ClockFloor())
	}
	return gw, sp, nil
}

const enrollUsage = `usage: faceagent enroll [--config FILE] [--gateway URL] [--label TEXT] [--print]

Creates the device key (identity.key_file) if needed, prints the device id,
the public key (base64) and its fingerprint, and registers the key with the
gateway (POST /v1/devices) using the gateway operator's enrollment token
from FACEAGENT_ENROLL_TOKEN. The gateway URL must be https (http only to a
loopback host); redirects are not followed. With --print, nothing is sent: give the key to
the operator, who runs
  facegateway devices add -id <device id> -key <public key>

Flags:
`

// enrollMain implements `faceagent enroll`.
func enrollMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("enroll", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, enrollUsage); fs.PrintDefaults() }
	configPath := fs.String("config", "", "agent config file (defaults when empty)")
	gatewayURL := fs.String("gateway", "", "gateway base URL, e.g. https://gw.example.com")
	label := fs.String("label", "", "free text shown to operators, e.g. the branch")
	printOnly := fs.Bool("print", false, "only print the device id and public key")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "faceagent enroll: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "faceagent enroll:", err)
		return 2
	}
	if cfg.Identity.KeyFile == "" {
		fmt.Fprintln(stderr, "faceagent enroll: identity.key_file is empty; set it to enroll this device")
		return 2
	}
	token := os.Getenv(EnvEnrollToken)
	if !*printOnly && (*gatewayURL == "" || token == "") {
		fmt.Fprintf(stderr, "faceagent enroll: --gateway and %s are required (or --print)\n", EnvEnrollToken)
		return 2
	}
	if !*printOnly {
		if err := identity.CheckEnrollURL(strings.TrimRight(*gatewayURL, "/")); err != nil {
			fmt.Fprintln(stderr, "faceagent enroll: --gateway:", err)
			return 2
		}
	}
	id, created, err := identity.LoadOrCreate(cfg.Identity.KeyFile, cfg.Device.ID)
	if err != nil {
		fmt.Fprintln(stderr, "faceagent enroll:", err)
		return 1
	}
	state := "existing"
	if created {
		state = "created"
	}
	fmt.Fprintf(stdout, "device_id:   %s\npublic_key:  %s\nfingerprint: %s\nkey_file:    %s (%s)\n",
		id.DeviceID(), id.PublicKeyBase64(), id.Fingerprint(), cfg.Identity.KeyFile, state)
	if *printOnly {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// A nil client: Enroll's own, bounded by identity.EnrollTimeout and
	// never following a redirect.
	resp, isNew, err := identity.Enroll(ctx, nil, strings.TrimRight(*gatewayURL, "/"), token, *label, id)
	if err != nil {
		fmt.Fprintln(stderr, "faceagent enroll:", err)
		return 1
	}
	if isNew {
		fmt.Fprintf(stdout, "registered:  %s at %s\n", resp.DeviceID, resp.CreatedAt.Format(time.RFC3339))
	} else {
		fmt.Fprintf(stdout, "registered:  %s (already, since %s)\n", resp.DeviceID, resp.CreatedAt.Format(time.RFC3339))
	}
	return 0
}
