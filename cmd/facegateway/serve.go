package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/oklog/run"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/broker"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/onnx"
)

const serveUsage = `usage: facegateway serve [-config FILE] [-log-level LEVEL] [-log-format text|json]

Runs the verification gateway until SIGINT/SIGTERM (a second signal aborts
the graceful shutdown). Exit status: 0 after a clean shutdown, 2 for an
unreadable or invalid configuration (or flag), 1 for any other failure.

Secrets are never read from the config file:
  FACEGATEWAY_PARTNER_<CLIENT_ID>_CALLBACK_SECRET  a partner's own callback HMAC key (or
                                              partners[i].callback_secrets files), key id from
                                              FACEGATEWAY_PARTNER_<CLIENT_ID>_CALLBACK_KEY_ID
  FACEGATEWAY_CALLBACK_SECRET                 deprecated single callback key (one partner only;
                                              or callback.secret_file)
  FACEGATEWAY_DATABASE_PASSWORD               PostgreSQL password (database.driver = "postgres";
                                              or the whole DSN in database.dsn_file)
  FACEGATEWAY_AUDIT_KEY                       audit secret: keys the audit log's MAC chain, its
                                              user and flow references and the lockout kept
                                              through an erasure (or audit.key_file; required
                                              off loopback)
Partner passkeys are not read at all: partners[i].passkey_hashes holds their
argon2id hashes (facegateway partners hash-passkey).

Flags:
`

// serveMain implements `facegateway serve`.
func serveMain(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, serveUsage); fs.PrintDefaults() }
	configPath := fs.String("config", "facegateway.toml", "gateway config file (TOML)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "facegateway serve: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := serve(ctx, *configPath, *level, *format, stderr); err != nil {
		fmt.Fprintf(stderr, "facegateway serve: %v\n", err)
		var ce configError
		if errors.As(err, &ce) {
			return 2
		}
		return 1
	}
	return 0
}

// configError marks an error in the configuration itself (an unreadable or
// invalid file, a bad log flag): serve exits 2 for it, as faceagent does,
// so a service manager can tell a setup to fix from a failure while
// running (exit 1).
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// serve loads the config, opens the store and the inference engine, and runs
// the gateway until ctx is cancelled.
func serve(ctx context.Context, configPath, level, format string, logw io.Writer) error {
	log, err := newLogger(logw, level, format)
	if err != nil {
		return configError{err}
	}
	cfg, err := gateway.LoadConfig(configPath, os.Getenv)
	if err != nil {
		return configError{err}
	}
	setMemoryLimit(cfg, log)
	log.Info("image decoders", "jpeg_decoder", inference.JPEGDecoderName())
	store, err := openStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer store.Close()
	cfg.Inference.IntraOpThreads = gatewayThreads(cfg.Inference.IntraOpThreads, cfg.Processing.Workers)
	engine, err := onnx.New(cfg.Inference, log)
	if err != nil {
		return fmt.Errorf("inference engine: %w", err)
	}
	defer engine.Close()
	gw, err := gateway.New(cfg, gateway.Deps{Store: store, Analyzer: engine, Logger: log})
	if err != nil {
		return err
	}
	if id, ok := cfg.UsesGlobalCallbackSecret(); ok {
		log.Warn("callbacks signed with the deprecated shared callback secret: give the partner its own key",
			"client_id", id, "env", gateway.PartnerCallbackSecretEnv(id))
	}
	if cfg.Broker.Enabled {
		b, err := broker.Start(ctx, cfg.Broker, log)
		if err != nil {
			return err
		}
		defer b.Close()
		log.Info("embedded MQTT broker listening", "addr", b.Addr())
	}
	var g run.Group
	gctx, cancel := context.WithCancel(ctx)
	g.Add(func() error { return gw.Run(gctx) }, func(error) { cancel() })
	done := make(chan struct{})
	g.Add(func() error {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
		case <-done:
		}
		return nil
	}, func(error) { close(done) })
	return g.Run()
}

// gatewayThreads is the ONNX Runtime intra-op thread count of a gateway
// with workers processing workers: the configured count, or for 0 each
// worker's share of the cores, max(1, GOMAXPROCS ÷ workers), so that
// workers × threads does not oversubscribe the machine.
func gatewayThreads(configured, workers int) int {
	if configured > 0 {
		return configured
	}
	return max(1, runtime.GOMAXPROCS(0)/max(1, workers))
}
