package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/faceverify/faceverify/gateway/fleet"
	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/internal/validate"
)

// Environment variables of `facegateway fleet`.
const (
	envFleetMQTTPassword = "FACEGATEWAY_FLEET_MQTT_PASSWORD"  // broker password
	envFleetSecret       = "FACEGATEWAY_FLEET_COMMAND_SECRET" // the kiosks' command secret (signs identify)
)

const fleetUsage = `usage: facegateway fleet [-broker URL] [-listen ADDR] [flags]

Serves the live fleet page: every kiosk's status (and since when it is
offline), last session event and telemetry, updated live from the broker,
with an identify button (the server signs the command).

Secrets come from the environment, never from flags:
  FACEGATEWAY_FLEET_MQTT_PASSWORD    broker password (with -username)
  FACEGATEWAY_FLEET_COMMAND_SECRET   the kiosks' command secret (or -command-secret-file);
                                     without it the identify button is disabled

The page has no login: it listens on loopback unless -allow-remote is given
(then put it behind an authenticating reverse proxy).

Flags:
`

// fleetMain implements `facegateway fleet`.
func fleetMain(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, fleetUsage); fs.PrintDefaults() }
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker URL (tcp://, ssl://, ws://, wss://)")
	listen := fs.String("listen", "127.0.0.1:8471", "HTTP address of the page")
	prefix := fs.String("prefix", mqttapi.DefaultPrefix, "the kiosks' topic prefix")
	username := fs.String("username", "", "broker user (password from "+envFleetMQTTPassword+")")
	caFile := fs.String("ca-file", "", "PEM CA bundle trusted for a TLS broker")
	certFile := fs.String("cert-file", "", "PEM client certificate for the broker")
	keyFile := fs.String("key-file", "", "PEM client key for the broker")
	secretFile := fs.String("command-secret-file", "", "file holding the kiosks' command secret (when "+envFleetSecret+" is unset)")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback -listen address")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "facegateway fleet: unexpected arguments %q\n", fs.Args())
		return 2
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		fmt.Fprintf(stderr, "facegateway fleet: -listen %q: %v\n", *listen, err)
		return 2
	}
	if !*allowRemote && !validate.LoopbackHost(host) {
		fmt.Fprintf(stderr, "facegateway fleet: -listen %q is not a loopback address (the page has no login; add -allow-remote behind an authenticating proxy)\n", *listen)
		return 2
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(stderr, "facegateway fleet:", err)
		return 2
	}
	secret := []byte(os.Getenv(envFleetSecret))
	if len(secret) == 0 && *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			fmt.Fprintln(stderr, "facegateway fleet: -command-secret-file:", err)
			return 2
		}
		secret = []byte(strings.TrimRight(string(b), "\r\n"))
	}
	if len(secret) == 0 {
		log.Warn("fleet: no command secret (" + envFleetSecret + "): the identify button is disabled")
	}
	s, err := fleet.New(fleet.Options{
		Broker: *broker, Prefix: *prefix, Username: *username, Password: os.Getenv(envFleetMQTTPassword),
		CAFile: *caFile, CertFile: *certFile, KeyFile: *keyFile, CommandSecret: secret, Logger: log,
		AllowRemoteHosts: *allowRemote,
	})
	if err != nil {
		fmt.Fprintln(stderr, "facegateway fleet:", err)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "facegateway fleet:", err)
		return 1
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }} // event streams end with ctx
	errc := make(chan error, 2)
	go func() { errc <- s.Run(ctx) }()
	go func() {
		log.Info("fleet page listening", "url", "http://"+ln.Addr().String()+"/", "broker", *broker)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			fmt.Fprintln(stderr, "facegateway fleet:", err)
			return 1
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return 0
}
