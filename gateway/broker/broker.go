// Package broker runs the embedded MQTT broker (mochi-mqtt v2) that is the
// one-machine default of faceverify: agents report to it and the fleet tools
// subscribe to it. A fleet of many kiosks uses a standard broker
// (mosquitto, or a clustered broker) instead, and leaves this one disabled.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Config configures the embedded broker ([broker] table).
type Config struct {
	// Enabled starts the broker inside the process.
	Enabled bool `toml:"enabled"`
	// Listen is the TCP address, e.g. "127.0.0.1:1883".
	Listen string `toml:"listen"`
	// Username and Password, when set, are required of every client;
	// Password is never read from the file: facegateway takes it from
	// FACEGATEWAY_BROKER_PASSWORD.
	Username string `toml:"username"`
	Password string `toml:"-"`
	// TLSCert and TLSKey enable MQTT over TLS on Listen. They are required
	// when Listen is not a loopback address.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
}

// DefaultConfig is a loopback-only, anonymous broker on port 1883.
func DefaultConfig() Config {
	return Config{Enabled: false, Listen: "127.0.0.1:1883"}
}

// Validate checks the config; errors name the dotted field.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("broker.listen: %q is not host:port: %w", c.Listen, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("broker.tls_cert, broker.tls_key: set both or neither")
	}
	if !isLoopback(host) && c.TLSCert == "" {
		return fmt.Errorf("broker.listen: %q is not a loopback address, so broker.tls_cert and broker.tls_key are required", c.Listen)
	}
	if !isLoopback(host) && c.Username == "" {
		return fmt.Errorf("broker.username: required when broker.listen %q is not a loopback address", c.Listen)
	}
	if (c.Username == "") != (c.Password == "") {
		return errors.New("broker.username, broker.password: set both or neither")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Broker is a running embedded broker.
type Broker struct {
	srv   *mqtt.Server
	addr  string
	close sync.Once
	err   error
}

// Start starts the broker; it serves until ctx is done or Close is called.
// It returns an error when the listener cannot be bound.
func Start(ctx context.Context, c Config, logger *slog.Logger) (*Broker, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: logger.With("component", "broker")})
	if c.Username != "" {
		err := srv.AddHook(new(auth.Hook), &auth.Options{Ledger: &auth.Ledger{
			Auth: auth.AuthRules{{Username: auth.RString(c.Username), Password: auth.RString(c.Password), Allow: true}},
		}})
		if err != nil {
			return nil, fmt.Errorf("broker auth: %w", err)
		}
	} else if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("broker auth: %w", err)
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
func (b *Broker) Close() error {
	b.close.Do(func() { b.err = b.srv.Close() })
	return b.err
}
