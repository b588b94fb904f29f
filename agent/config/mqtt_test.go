package config

import (
	"strings"
	"testing"
)

// TestBrokerTransport: a plaintext broker URL outside loopback is refused
// with an error naming mqtt.broker unless mqtt.insecure_allow_plaintext is
// set; TLS schemes and loopback hosts are accepted.
func TestBrokerTransport(t *testing.T) {
	cases := []struct {
		name   string
		broker string
		allow  bool
		ok     bool
	}{
		{"tcp to a LAN host", "tcp://10.0.0.5:1883", false, false},
		{"tcp to a host name", "tcp://broker.example:1883", false, false},
		{"mqtt to a host name", "mqtt://broker.example:1883", false, false},
		{"ws to a host name", "ws://broker.example:8080/mqtt", false, false},
		{"tcp to an IPv6 LAN host", "tcp://[fd00::5]:1883", false, false},
		{"tcp to a LAN host, allowed", "tcp://10.0.0.5:1883", true, true},
		{"ws to a host name, allowed", "ws://broker.example:8080/mqtt", true, true},
		{"tcp to 127.0.0.1", "tcp://127.0.0.1:1883", false, true},
		{"tcp to 127.0.0.2", "tcp://127.0.0.2:1883", false, true},
		{"tcp to localhost", "tcp://localhost:1883", false, true},
		{"tcp to ::1", "tcp://[::1]:1883", false, true},
		{"ws to localhost", "ws://localhost:8080/mqtt", false, true},
		{"ssl", "ssl://broker.example:8883", false, true},
		{"tls", "tls://broker.example:8883", false, true},
		{"mqtts", "mqtts://broker.example:8883", false, true},
		{"wss", "wss://broker.example:443/mqtt", false, true},
		{"disabled", "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Device.ID = "k1"
			c.MQTT.Broker = tc.broker
			c.MQTT.InsecureAllowPlaintext = tc.allow
			err := c.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if !tc.ok && (err == nil || !strings.HasPrefix(err.Error(), "mqtt.broker:") || !strings.Contains(err.Error(), "mqtt.insecure_allow_plaintext")) {
				t.Fatalf("Validate() = %v, want an mqtt.broker error naming mqtt.insecure_allow_plaintext", err)
			}
		})
	}
}

// TestBrokerTransportFromFile: the key decodes from the [mqtt] table.
func TestBrokerTransportFromFile(t *testing.T) {
	const base = "[device]\nid = \"k1\"\n[mqtt]\nbroker = \"tcp://10.0.0.5:1883\"\n"
	c, err := Decode(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "mqtt.broker:") {
		t.Errorf("plaintext LAN broker: Validate() = %v, want an mqtt.broker error", err)
	}
	c, err = Decode(base + "insecure_allow_plaintext = true\n")
	if err != nil {
		t.Fatal(err)
	}
	if !c.MQTT.InsecureAllowPlaintext {
		t.Fatal("insecure_allow_plaintext = true not decoded")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("with insecure_allow_plaintext: %v", err)
	}
}
