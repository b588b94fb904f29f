// Package broker runs the embedded MQTT broker (mochi-mqtt v2) that is the
// one-machine default of faceverify: agents report to it and the fleet tools
// subscribe to it. A fleet of many kiosks uses a standard broker
// (mosquitto, or a clustered broker) instead, and leaves this one disabled.
//
// Without a users file the broker admits anonymous clients and lets them
// publish and subscribe to anything; it then listens on loopback only. With
// broker.users_file every client logs in with an account of the file and
// is held to its role's topics (mqttapi.Rules, the counterpart of
// docs/mosquitto-acl.conf).
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/faceverify/faceverify/internal/validate"
)

// Config configures the embedded broker ([broker] table).
type Config struct {
	// Enabled starts the broker inside the process.
	Enabled bool `toml:"enabled"`
	// Listen is the TCP address, e.g. "127.0.0.1:1883".
	Listen string `toml:"listen"`
	// UsersFile is the accounts file (ParseUsers: "NAME ROLE HASH" per
	// line, from `facegateway broker-user add`). When set, every client
	// must log in with an account of it and is held to its role's topics;
	// when empty, clients are anonymous and unrestricted, which is allowed
	// only on a loopback Listen. Read once at start.
	UsersFile string `toml:"users_file"`
	// Prefix is the agents' topic prefix (their mqtt.prefix) the topic
	// rules are written for; "faceverify" when empty.
	Prefix string `toml:"prefix"`
	// HAPrefix is Home Assistant's discovery prefix (the agents'
	// Home Assistant prefix); "homeassistant" when empty.
	HAPrefix string `toml:"ha_prefix"`
	// TLSCert and TLSKey enable MQTT over TLS on Listen. They are required
	// when Listen is not a loopback address.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
}

// DefaultConfig is a loopback-only, anonymous broker on port 1883.
func DefaultConfig() Config {
	return Config{Enabled: false, Listen: "127.0.0.1:1883", Prefix: "faceverify", HAPrefix: "homeassistant"}
}

// withDefaults fills the empty prefixes.
func (c Config) withDefaults() Config {
	def := DefaultConfig()
	if c.Prefix == "" {
		c.Prefix = def.Prefix
	}
	if c.HAPrefix == "" {
		c.HAPrefix = def.HAPrefix
	}
	return c
}

// Validate checks the config; errors name the dotted field.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	c = c.withDefaults()
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("broker.listen: %q is not host:port: %w", c.Listen, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("broker.tls_cert, broker.tls_key: set both or neither")
	}
	if !validate.LoopbackHost(host) && c.TLSCert == "" {
		return fmt.Errorf("broker.listen: %q is not a loopback address, so broker.tls_cert and broker.tls_key are required", c.Listen)
	}
	if !validate.LoopbackHost(host) && c.UsersFile == "" {
		return fmt.Errorf("broker.users_file: required when broker.listen %q is not a loopback address (anonymous clients could read every command)", c.Listen)
	}
	if !validPrefix(c.Prefix) {
		return fmt.Errorf("broker.prefix: %q is not a topic prefix (levels without + # or $ at the start)", c.Prefix)
	}
	if !validPrefix(c.HAPrefix) {
		return fmt.Errorf("broker.ha_prefix: %q is not a topic prefix (levels without + # or $ at the start)", c.HAPrefix)
	}
	return nil
}

// validPrefix: non-empty '/'-separated levels, none empty or holding a
// wildcard or NUL, not starting with '$'.
func validPrefix(p string) bool {
	if p == "" || strings.HasPrefix(p, "$") {
		return false
	}
	for _, lvl := range strings.Split(p, "/") {
		if lvl == "" || strings.ContainsAny(lvl, "+#\x00") {
			return false
		}
	}
	return true
}

// Broker is a running embedded broker.
type Broker struct {
	srv   *mqtt.Server
	addr  string
	close sync.Once
	err   error
}

// Start starts the broker; it serves until ctx is done or Close is called.
// It returns an error when the config is invalid, the users file cannot be
// read (LoadUsers) or the listener cannot be bound.
func Start(ctx context.Context, c Config, logger *slog.Logger) (*Broker, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	if logger == nil {
		logger = slog.Default()
	}
	log := logger.With("component", "broker")
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: newBrokerLogger(log)})
	if c.UsersFile != "" {
		accts, err := LoadUsers(c.UsersFile)
		if err != nil {
			return nil, err
		}
		h, err := newAccountsHook(accts, c.Prefix, c.HAPrefix, log)
		if err != nil {
			return nil, fmt.Errorf("broker auth: %w", err)
		}
		if err := srv.AddHook(h, nil); err != nil {
			return nil, fmt.Errorf("broker auth: %w", err)
		}
		log.Info("broker accounts loaded", "users_file", c.UsersFile, "accounts", len(accts))
	} else {
		if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
			return nil, fmt.Errorf("broker auth: %w", err)
		}
		log.Warn("broker.users_file is not set: anonymous clients may read and publish every topic, so any local process can read commands (user tokens included) and speak for any kiosk",
			"listen", c.Listen)
	}
	var tc *tls.Config
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("broker.tls_cert: %w", err)
		}
		tc = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	// Bind here so the caller learns the real address (":0" in tests) and
	// gets a bind error synchronously.
	var ln net.Listener
	var err error
	if tc != nil {
		ln, err = tls.Listen("tcp", c.Listen, tc)
	} else {
		ln, err = net.Listen("tcp", c.Listen)
	}
	if err != nil {
		return nil, fmt.Errorf("broker.listen %s: %w", c.Listen, err)
	}
	addr := ln.Addr().String()
	if err := srv.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("broker listener: %w", err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("broker serve: %w", err)
	}
	b := &Broker{srv: srv, addr: addr}
	go func() {
		<-ctx.Done()
		b.Close()
	}()
	return b, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// URL is the client URL of the broker, e.g. "tcp://127.0.0.1:1883".
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close stops the broker; safe to call twice.
//
// mochi-mqtt v2.7.9's Server.Close can deadlock when a client disconnects at
// the same moment (mochi-mqtt/server#488), so Close waits at most
// closeTimeout and then returns ErrCloseTimeout, leaving the listener to
// die with the process rather than hanging a shutdown.
func (b *Broker) Close() error {
	b.close.Do(func() {
		done := make(chan error, 1)
		go func() { done <- b.srv.Close() }()
		select {
		case b.err = <-done:
		case <-time.After(closeTimeout):
			b.err = ErrCloseTimeout
		}
	})
	return b.err
}

// closeTimeout bounds Close.
const closeTimeout = 5 * time.Second

// ErrCloseTimeout is returned by Close when the broker did not stop within
// closeTimeout.
var ErrCloseTimeout = errors.New("embedded MQTT broker did not stop in time")
