// Package mqtttest gives tests an MQTT broker: the real one named by
// FACEVERIFY_TEST_MQTT (as CI runs mosquitto) or else an in-process mochi
// broker on a loopback port.
package mqtttest

import (
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// EnvBroker names the environment variable holding a test broker URL.
const EnvBroker = "FACEVERIFY_TEST_MQTT"

// Broker returns the URL of a broker for t. When FACEVERIFY_TEST_MQTT is
// set the broker must be reachable (the test fails otherwise); when unset an
// in-process broker is started and stopped with the test.
func Broker(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvBroker); u != "" {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatalf("%s=%q: %v", EnvBroker, u, err)
		}
		c, err := net.DialTimeout("tcp", pu.Host, 3*time.Second)
		if err != nil {
			t.Fatalf("%s=%q set but the broker is unreachable: %v", EnvBroker, u, err)
		}
		c.Close()
		return u
	}
	return Embedded(t)
}

// Embedded starts an in-process mochi broker allowing every client and
// returns its tcp:// URL.
func Embedded(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := mochi.New(&mochi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AddListener(listeners.NewNet("test", ln)); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "tcp://" + ln.Addr().String()
}
