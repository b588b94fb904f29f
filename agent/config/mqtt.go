package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	mqtt "github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/internal/conf"
	"github.com/faceverify/faceverify/internal/validate"
)

// EnvMQTTCommandSecret holds the HMAC key of signed MQTT commands; it
// overrides mqtt.command_secret_file.
const EnvMQTTCommandSecret = "FACEAGENT_MQTT_COMMAND_SECRET"

// MinCommandSecretBytes is the shortest accepted command secret (128 bits
// of a random hex or base64 string is more than that).
const MinCommandSecretBytes = 16

// MQTTFleetConfig are the [mqtt] keys of the fleet interface, embedded in
// MQTTConfig (docs/mqtt.md). Secrets come from the environment or files.
type MQTTFleetConfig struct {
	// ClientID is the MQTT client id; "" derives one unique per install
	// (mqtt.ClientID: device id + install id in StateDir + machine id).
	ClientID string `toml:"client_id"`
	// StateDir keeps the install id, the event sequence, the outbox of
	// unsent events and the used command nonces (created 0700); "" keeps
	// them in memory only (commands signed before the start are refused).
	StateDir string `toml:"state_dir"`
	// CertFile and KeyFile are a PEM client certificate and key for TLS
	// brokers that require one (both or neither).
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// MaxReconnectInterval caps the reconnect backoff (1 s doubling).
	MaxReconnectInterval time.Duration `toml:"max_reconnect_interval" min:"1s" max:"1h"`
	// CommandSecretFile holds the HMAC-SHA256 key of signed commands when
	// FACEAGENT_MQTT_COMMAND_SECRET is unset; with neither, every command
	// is refused.
	CommandSecretFile string `toml:"command_secret_file"`
	// CommandWindow is how far a command's timestamp may be from the
	// kiosk's clock, either way.
	CommandWindow time.Duration `toml:"command_window" min:"10s" max:"1h"`
	// TelemetryInterval is the telemetry period; "0s" turns it off.
	TelemetryInterval time.Duration `toml:"telemetry_interval" off:"true" min:"1s" max:"1h"`
	// HADiscovery announces the kiosk to Home Assistant and accepts its
	// unsigned identify and self-test buttons (restrict P/D/ha/# by ACL).
	HADiscovery bool `toml:"ha_discovery"`
	// HAPrefix is Home Assistant's discovery prefix.
	HAPrefix string `toml:"ha_prefix"`
	// InsecureAllowPlaintext accepts a plaintext broker URL (tcp://,
	// mqtt:// or ws://) to a host other than loopback; without it such a
	// URL is refused and the broker must be reached over TLS (ssl://,
	// tls://, mqtts:// or wss://).
	InsecureAllowPlaintext bool `toml:"insecure_allow_plaintext"`
	// CommandSecret is set from the environment or CommandSecretFile by
	// Load.
	CommandSecret []byte `toml:"-"`
}

func defaultMQTTFleetConfig() MQTTFleetConfig {
	return MQTTFleetConfig{
		StateDir:             filepath.Join(DefaultStateDir, "mqtt"),
		MaxReconnectInterval: 30 * time.Second,
		CommandWindow:        mqtt.DefaultCommandWindow,
		TelemetryInterval:    30 * time.Second,
		HADiscovery:          true,
		HAPrefix:             mqtt.DefaultHADiscoveryPrefix,
	}
}

// loadSecrets reads the command secret from FACEAGENT_MQTT_COMMAND_SECRET
// or mqtt.command_secret_file (trailing newlines trimmed).
func (m *MQTTFleetConfig) loadSecrets() error {
	if v, ok := os.LookupEnv(EnvMQTTCommandSecret); ok {
		m.CommandSecret = []byte(v)
		return nil
	}
	if m.CommandSecretFile == "" {
		return nil
	}
	b, err := os.ReadFile(m.CommandSecretFile)
	if err != nil {
		return fmt.Errorf("mqtt.command_secret_file: %w", err)
	}
	m.CommandSecret = []byte(strings.TrimRight(string(b), "\r\n"))
	return nil
}

// plaintextSchemes are the broker URL schemes without TLS.
var plaintextSchemes = map[string]bool{"tcp": true, "mqtt": true, "ws": true}

// validateBrokerTransport refuses a plaintext broker URL u to a host other
// than loopback unless mqtt.insecure_allow_plaintext is set: credentials,
// signed commands and events would cross the network in clear text. The
// error names mqtt.broker.
func (m MQTTFleetConfig) validateBrokerTransport(u *url.URL) error {
	if !plaintextSchemes[u.Scheme] || m.InsecureAllowPlaintext || validate.LoopbackHost(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("mqtt.broker: %s:// to %q is plaintext outside loopback; use ssl://, tls://, mqtts:// or wss://, or set mqtt.insecure_allow_plaintext = true", u.Scheme, u.Hostname())
}

// validate checks the fleet rules beyond the declared limits; errors name
// the dotted field.
func (m MQTTFleetConfig) validate() error {
	if m.ClientID != "" && (len(m.ClientID) > 128 || strings.ContainsAny(m.ClientID, "/+# ")) {
		return conf.Errorf("mqtt.client_id", "must be at most 128 characters without '/', '+', '#' or spaces, got %q", m.ClientID)
	}
	if (m.CertFile == "") != (m.KeyFile == "") {
		return conf.Errorf("mqtt.cert_file, mqtt.key_file", "set both or neither")
	}
	for _, f := range []struct{ name, path string }{{"mqtt.cert_file", m.CertFile}, {"mqtt.key_file", m.KeyFile}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				return conf.Errorf(f.name, "%v", err)
			}
		}
	}
	if !mqtt.TopicPrefixValid(m.HAPrefix) {
		return conf.Errorf("mqtt.ha_prefix", "must be topic levels without wildcards, got %q", m.HAPrefix)
	}
	if n := len(m.CommandSecret); n > 0 && n < MinCommandSecretBytes {
		return conf.Errorf("mqtt.command_secret_file", "the command secret must be at least %d bytes, got %d (from %s or the file)", MinCommandSecretBytes, n, EnvMQTTCommandSecret)
	}
	return nil
}
