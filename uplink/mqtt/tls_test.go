package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/uplink"
	"github.com/faceverify/faceverify/uplink/mqtt/mqtttest"
)

// tlsBroker starts a private mosquitto whose only listener is TLS with a
// certificate for 127.0.0.1 issued by ca, with extra configuration
// appended; it returns the broker and its ssl:// URL.
func tlsBroker(t *testing.T, ca *mqtttest.CA, extra string) (*mqtttest.Mosquitto, string) {
	t.Helper()
	crt, key := ca.IssueServer(t, "mosquitto")
	m := mqtttest.StartMosquitto(t, fmt.Sprintf("cafile %s\ncertfile %s\nkeyfile %s\n%s", ca.CertFile, crt, key, extra))
	return m, fmt.Sprintf("ssl://127.0.0.1:%d", m.Port())
}

// statusOf decodes and validates a status message.
func statusOf(t *testing.T, payload []byte) mqttapi.Status {
	t.Helper()
	mqtttest.Validate(t, mqtttest.SchemaStatus, payload)
	var s mqttapi.Status
	if err := json.Unmarshal(payload, &s); err != nil {
		t.Fatalf("status %q: %v", payload, err)
	}
	return s
}

// neverConnects runs c for d and checks it never reports a connection and
// that nothing it would announce reached w (subscribed to its status).
func neverConnects(t *testing.T, c *Client, w *watcher, d time.Duration) {
	t.Helper()
	stop := runClient(t, c, false)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c.Connected() {
			t.Fatalf("%s connected", c.opts.DeviceID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	select {
	case m := <-w.ch:
		t.Fatalf("%s: %s reached the broker: %s", c.opts.DeviceID, m.Topic(), m.Payload())
	default:
	}
	if s := c.Stats(); s.Connected || s.Published != 0 {
		t.Fatalf("%s stats %+v", c.opts.DeviceID, s)
	}
}

// TestTLSBrokerCAFile runs the agent's client against a mosquitto TLS
// listener whose certificate comes from a private CA: with mqtt.ca_file
// naming that CA it connects, publishes its retained online status and
// events, and says offline on a clean stop; trusting another CA, the
// handshake fails on an unknown authority and nothing is published.
func TestTLSBrokerCAFile(t *testing.T) {
	ca := mqtttest.NewCA(t, "faceverify test CA")
	m, broker := tlsBroker(t, ca, "")
	good := &tls.Config{RootCAs: ca.CertPool(), MinVersion: tls.VersionTLS12}

	o := testOptions(broker, "kiosk-tls", mqttapi.DefaultPrefix)
	o.CAFile, o.StateDir, o.Version = ca.CertFile, t.TempDir(), "1.0.0"
	c, stop := startClient(t, o)
	w := watchAs(t, broker, account{tls: good}, c.StatusTopic(), c.EventsTopic())

	st := w.nextOn(t, c.StatusTopic())
	if s := statusOf(t, st.Payload()); !st.Retained() || s.State != mqttapi.StateOnline || s.DeviceID != "kiosk-tls" {
		t.Fatalf("status over TLS: retained=%v %+v", st.Retained(), s)
	}
	for _, state := range []string{"capturing", "verified"} {
		c.Publish(uplink.Event{SessionID: "s-tls", CorrelationID: "corr-tls", State: state, Attempt: 1})
	}
	for i, want := range []string{"capturing", "verified"} {
		msg := w.nextOn(t, c.EventsTopic())
		mqtttest.Validate(t, mqtttest.SchemaEvent, msg.Payload())
		if ev := decodeEvent(t, msg); ev.State != want || ev.Seq != uint64(i+1) || msg.Qos() != 1 {
			t.Fatalf("event %d over TLS: %+v (QoS %d)", i, ev, msg.Qos())
		}
	}
	stop()
	if s := statusOf(t, w.nextOn(t, c.StatusTopic()).Payload()); s.State != mqttapi.StateOffline || s.Reason != mqttapi.ReasonShutdown {
		t.Fatalf("status after a clean stop: %+v", s)
	}

	t.Run("wrong CA", func(t *testing.T) {
		other := mqtttest.NewCA(t, "another CA")
		addr := fmt.Sprintf("127.0.0.1:%d", m.Port())
		// The handshake itself: the broker's chain does not lead to the
		// trusted CA (and does with the right one).
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: other.CertPool()})
		var unknown x509.UnknownAuthorityError
		if err == nil {
			conn.Close()
			t.Fatal("TLS handshake trusting another CA succeeded")
		}
		if !errors.As(err, &unknown) {
			t.Fatalf("TLS handshake trusting another CA: %v, want x509.UnknownAuthorityError", err)
		}
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, good)
		if err != nil {
			t.Fatalf("TLS handshake trusting the broker's CA: %v", err)
		}
		conn.Close()

		// The agent's client with ca_file naming the other CA.
		o := testOptions(broker, "kiosk-wrong-ca", mqttapi.DefaultPrefix)
		o.CAFile, o.ConnectTimeout = other.CertFile, 2*time.Second
		bad, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		before := strings.Count(m.Log(), "\n")
		neverConnects(t, bad, watchAs(t, broker, account{tls: good}, bad.StatusTopic()), 2500*time.Millisecond)
		log := m.Log()
		if strings.Contains(log, bad.ClientIDInUse()) {
			t.Fatalf("the broker saw client %s:\n%s", bad.ClientIDInUse(), log)
		}
		if strings.Count(log, "\n") == before {
			t.Fatal("the broker logged no refused handshake: the client did not even try")
		}
		t.Logf("broker log after the wrong-CA client:\n%s", lastLines(log, 4))
	})
}

// TestTLSClientCertificates runs the documented kiosk setup with client
// certificates (docs/mosquitto-acl.conf: require_certificate,
// use_identity_as_username, allow_anonymous false, the ACL file): the
// agent with mqtt.ca_file, cert_file and key_file (CN = device id)
// connects, its status and events reach the fleet operator (CN
// fleet-operator), and it runs the operator's signed command; a client
// without a certificate, with one from another CA, or trusting another CA
// is refused.
func TestTLSClientCertificates(t *testing.T) {
	ca := mqtttest.NewCA(t, "faceverify fleet CA")
	_, broker := tlsBroker(t, ca, fmt.Sprintf(
		"require_certificate true\nuse_identity_as_username true\nallow_anonymous false\nacl_file %s\n", aclDocPath(t)))
	good := &tls.Config{RootCAs: ca.CertPool(), MinVersion: tls.VersionTLS12}
	withCert := func(t *testing.T, ca *mqtttest.CA, cn string) *tls.Config {
		crt, key := ca.IssueClient(t, cn)
		pair, err := tls.LoadX509KeyPair(crt, key)
		if err != nil {
			t.Fatal(err)
		}
		c := good.Clone()
		c.Certificates = []tls.Certificate{pair}
		return c
	}
	operator := watchAs(t, broker, account{tls: withCert(t, ca, "fleet-operator")}, fleetFilters(mqttapi.DefaultPrefix)...)

	crt, key := ca.IssueClient(t, "kiosk-7")
	// mqtts:// is the same TLS listener under the other documented scheme.
	o := testOptions(strings.Replace(broker, "ssl://", "mqtts://", 1), "kiosk-7", mqttapi.DefaultPrefix)
	o.CAFile, o.CertFile, o.KeyFile, o.StateDir = ca.CertFile, crt, key, t.TempDir()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	identified := make(chan mqttapi.Command, 2)
	c.HandleCommand(mqttapi.CmdIdentify, func(_ context.Context, cmd mqttapi.Command) mqttapi.Reply {
		identified <- cmd
		return mqttapi.ResultReply(map[string]any{"effect": "logged", "duration_ms": 1000})
	})
	runClient(t, c, true)

	if s := statusOf(t, operator.nextOn(t, c.StatusTopic()).Payload()); s.State != mqttapi.StateOnline {
		t.Fatalf("status: %+v", s)
	}
	c.Publish(uplink.Event{SessionID: "s-cert", State: "capturing", Attempt: 1})
	if ev := decodeEvent(t, operator.nextOn(t, c.EventsTopic())); ev.State != "capturing" || ev.DeviceID != "kiosk-7" {
		t.Fatalf("event: %+v", ev)
	}
	cmd, err := mqttapi.SignCommand(testSecret, c.CommandTopic(mqttapi.CmdIdentify), "r-cert", time.Now(), map[string]any{"duration_ms": 1000})
	if err != nil {
		t.Fatal(err)
	}
	operator.publish(t, c.CommandTopic(mqttapi.CmdIdentify), cmd)
	if r := replyOf(t, operator.nextOn(t, c.ReplyTopic(mqttapi.CmdIdentify))); !r.OK || r.RequestID != "r-cert" {
		t.Fatalf("reply: %+v", r)
	}
	if got := <-identified; got.RequestID != "r-cert" || got.Source != mqttapi.SourceSigned {
		t.Fatalf("handler got %+v", got)
	}

	other := mqtttest.NewCA(t, "another CA")
	for _, tc := range []struct {
		name string
		tls  *tls.Config
	}{
		{"no client certificate", good},
		{"client certificate from another CA", withCert(t, other, "kiosk-7")},
		{"trusting another CA", func() *tls.Config { c := withCert(t, ca, "kiosk-7"); c.RootCAs = other.CertPool(); return c }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := dialAs(t, broker, account{tls: tc.tls})
			if err == nil {
				w.c.Disconnect(0)
				t.Fatal("connected")
			}
			t.Logf("refused: %v", err)
		})
	}
	t.Run("agent without a certificate", func(t *testing.T) {
		o := testOptions(broker, "kiosk-8", mqttapi.DefaultPrefix)
		o.CAFile, o.ConnectTimeout = ca.CertFile, 2*time.Second
		bad, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		neverConnects(t, bad, watchAs(t, broker, account{tls: withCert(t, ca, "fleet-operator")}, bad.StatusTopic()), 2500*time.Millisecond)
	})
}

// fleetFilters are the subscriptions of the fleet page (gateway/fleet).
func fleetFilters(prefix string) []string {
	return []string{prefix + "/+/status", prefix + "/+/events", prefix + "/+/telemetry", prefix + "/+/cmd/+/reply"}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
