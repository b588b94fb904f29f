package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/uplink"
	"github.com/faceverify/faceverify/uplink/mqtt/mqtttest"
)

// logRecorder is a slog.Handler keeping every record as text.
type logRecorder struct {
	mu   sync.Mutex
	recs []recorded
}

type recorded struct {
	level slog.Level
	text  string
	attrs map[string]string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrHandler{r: r, attrs: as}
}
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	return r.handle(rec, nil)
}

func (r *logRecorder) handle(rec slog.Record, pre []slog.Attr) error {
	out := recorded{level: rec.Level, attrs: map[string]string{}}
	var b strings.Builder
	b.WriteString(rec.Message)
	add := func(a slog.Attr) bool {
		out.attrs[a.Key] = a.Value.String()
		fmt.Fprintf(&b, " %s=%s", a.Key, a.Value)
		return true
	}
	for _, a := range pre {
		add(a)
	}
	rec.Attrs(add)
	out.text = b.String()
	r.mu.Lock()
	r.recs = append(r.recs, out)
	r.mu.Unlock()
	return nil
}

func (r *logRecorder) records() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.recs...)
}

type attrHandler struct {
	r     *logRecorder
	attrs []slog.Attr
}

func (h *attrHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *attrHandler) WithGroup(string) slog.Handler            { return h }
func (h *attrHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrHandler{r: h.r, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}
func (h *attrHandler) Handle(_ context.Context, rec slog.Record) error {
	return h.r.handle(rec, h.attrs)
}

// authBroker starts an in-process mochi broker that admits only user with
// password and returns its tcp:// URL.
func authBroker(t *testing.T, user, password string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := mochi.New(&mochi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ledger := &auth.Ledger{Auth: auth.AuthRules{{Username: auth.RString(user), Password: auth.RString(password), Allow: true}}}
	if err := s.AddHook(new(auth.Hook), &auth.Options{Ledger: ledger}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddListener(listeners.NewNet("auth", ln)); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeEmbeddedBroker(s, ln) })
	return "tcp://" + ln.Addr().String()
}

func closeEmbeddedBroker(s *mochi.Server, ln net.Listener) {
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second): // mochi-mqtt/server#488, as in mqtttest
		ln.Close()
	}
}

// tlsServerWithCert listens for TLS on loopback with a certificate issued
// by ca and completes handshakes (then closes); it returns ssl://host:port.
func tlsServerWithCert(t *testing.T, ca *mqtttest.CA) string {
	t.Helper()
	crt, key := ca.IssueServer(t, "broker")
	cert, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	return "ssl://" + ln.Addr().String()
}

// closedPort returns a loopback tcp:// URL nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "tcp://" + addr
}

// TestConnectFailureLoggedAndReported: a refused or failed connection is
// logged once as a warning naming the cause (not again while the cause
// stays the same), reported by ConnectFailure, and the password is in no
// log line.
func TestConnectFailureLoggedAndReported(t *testing.T) {
	const password = "s3cret-Wrong-pw"
	for _, tc := range []struct {
		name       string
		opts       func(t *testing.T) Options
		wantReason string
		wantText   string
	}{
		{"wrong password", func(t *testing.T) Options {
			o := testOptions(authBroker(t, "kiosk", "right-password"), "kiosk-auth", uniquePrefix(t))
			o.Username, o.Password = "kiosk", password
			return o
		}, ReasonMQTTNotAuthorised, "not authorised (bad username or password)"},
		{"connection refused", func(t *testing.T) Options {
			o := testOptions(closedPort(t), "kiosk-refused", uniquePrefix(t))
			o.Username, o.Password = "kiosk", password
			return o
		}, ReasonMQTTRefused, "connection refused"},
		{"untrusted TLS certificate", func(t *testing.T) Options {
			broker := tlsServerWithCert(t, mqtttest.NewCA(t, "broker CA"))
			o := testOptions(broker, "kiosk-tls", uniquePrefix(t))
			o.CAFile = mqtttest.NewCA(t, "other CA").CertFile
			o.Username, o.Password = "kiosk", password
			return o
		}, ReasonMQTTTLS, "TLS certificate not trusted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &logRecorder{}
			opts := tc.opts(t)
			opts.Logger = slog.New(rec)
			c, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ConnectFailure(); got != ReasonMQTTConnecting {
				t.Errorf("before Run ConnectFailure %q, want %q", got, ReasonMQTTConnecting)
			}
			stop := runClient(t, c, false)
			// paho retries every second: wait for a second failed attempt,
			// which must not be logged again.
			deadline := time.Now().Add(15 * time.Second)
			for {
				c.connTrack.mu.Lock()
				total := c.connTrack.total
				c.connTrack.mu.Unlock()
				if total >= 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d failed attempts seen, want 2", total)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got := c.ConnectFailure(); got != tc.wantReason {
				t.Errorf("ConnectFailure %q, want %q", got, tc.wantReason)
			}
			stop()
			var warns []recorded
			for _, r := range rec.records() {
				if strings.Contains(r.text, password) {
					t.Errorf("password logged: %s", r.text)
				}
				if r.level == slog.LevelWarn && strings.HasPrefix(r.text, "mqtt: cannot connect") {
					warns = append(warns, r)
				}
			}
			if len(warns) != 1 {
				t.Fatalf("%d connect-failure warnings, want 1 (rate-limited): %+v", len(warns), warns)
			}
			if w := warns[0]; !strings.Contains(w.text, tc.wantText) || w.attrs["reason"] != tc.wantReason || w.attrs["component"] != "mqtt" {
				t.Errorf("warning %q (reason %q), want the cause %q and reason %q", w.text, w.attrs["reason"], tc.wantText, tc.wantReason)
			}
		})
	}
}

// TestConnectFailureClearedOnConnect: after a successful connect the
// failure is gone.
func TestConnectFailureClearedOnConnect(t *testing.T) {
	c, _ := startClient(t, testOptions(mqtttest.Broker(t), "kiosk-ok", uniquePrefix(t)))
	if got := c.ConnectFailure(); got != "" {
		t.Errorf("connected, ConnectFailure %q, want empty", got)
	}
}

func TestConnectTrackerRateLimit(t *testing.T) {
	var tr connectTracker
	t0 := time.Unix(1_700_000_000, 0)
	steps := []struct {
		name     string
		reason   string
		at       time.Duration
		wantLog  bool
		attempts int
	}{
		{"first failure is logged", ReasonMQTTNotAuthorised, 0, true, 1},
		{"same reason soon after is not", ReasonMQTTNotAuthorised, time.Second, false, 0},
		{"nor later within the period", ReasonMQTTNotAuthorised, connectFailureLogEvery - time.Second, false, 0},
		{"after the period it is, with the attempts meanwhile", ReasonMQTTNotAuthorised, connectFailureLogEvery, true, 3},
		{"a new reason is logged at once", ReasonMQTTRefused, connectFailureLogEvery + time.Second, true, 1},
	}
	for _, s := range steps {
		log, attempts, _ := tr.failed(s.reason, t0.Add(s.at))
		if log != s.wantLog || attempts != s.attempts {
			t.Errorf("%s: log=%v attempts=%d, want %v %d", s.name, log, attempts, s.wantLog, s.attempts)
		}
	}
	if got := tr.last(); got != ReasonMQTTRefused {
		t.Errorf("last %q", got)
	}
	if n := tr.connected(); n != 5 || tr.last() != "" {
		t.Errorf("connected: failures %d last %q, want 5 and empty", n, tr.last())
	}
	if log, _, _ := tr.failed(ReasonMQTTRefused, t0.Add(connectFailureLogEvery+2*time.Second)); !log {
		t.Error("first failure after a connect not logged")
	}
}

func TestClassifyConnectError(t *testing.T) {
	network := func(err error) error { return fmt.Errorf("%w : %w", packets.ErrorNetworkError, err) }
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"CONNACK 4", packets.ConnErrors[packets.ErrRefusedBadUsernameOrPassword], ReasonMQTTNotAuthorised},
		{"CONNACK 5", packets.ConnErrors[packets.ErrRefusedNotAuthorised], ReasonMQTTNotAuthorised},
		{"CONNACK 2", packets.ConnErrors[packets.ErrRefusedIDRejected], ReasonMQTTClientIDRejected},
		{"CONNACK 3", packets.ConnErrors[packets.ErrRefusedServerUnavailable], ReasonMQTTBrokerUnavailable},
		{"CONNACK 1", packets.ConnErrors[packets.ErrRefusedBadProtocolVersion], ReasonMQTTProtocol},
		{"unknown CA", network(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), ReasonMQTTTLS},
		{"wrong host name", network(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "b"}), ReasonMQTTTLS},
		{"not TLS", network(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), ReasonMQTTTLS},
		{"client certificate required", network(&net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}), ReasonMQTTTLS},
		{"refused", network(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), ReasonMQTTRefused},
		{"dns", network(&net.DNSError{Err: "no such host", Name: "broker.invalid", IsNotFound: true}), ReasonMQTTUnreachable},
		{"timeout", network(&net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}), ReasonMQTTUnreachable},
		{"other", network(errors.New("no route to host")), ReasonMQTTUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, cause := classifyConnectError(tc.err); got != tc.want || cause == "" {
				t.Errorf("classify(%v) = %q %q, want %q", tc.err, got, cause, tc.want)
			}
		})
	}
}

// TestRestartGapOnFirstEventAfterUncleanStop: after an unclean stop the
// first event published carries gap "restart" over the jumped seq, the
// next one does not, and both match the schema.
func TestRestartGapOnFirstEventAfterUncleanStop(t *testing.T) {
	broker := mqtttest.Broker(t)
	prefix := uniquePrefix(t)
	state := t.TempDir()
	opts := testOptions(broker, "kiosk-gap", prefix)
	opts.StateDir = state
	w := watch(t, broker, prefix+"/kiosk-gap/events")
	ev := uplink.Event{SessionID: "s1", State: "capturing", Attempt: 1}

	c, stop := startClient(t, opts)
	c.Publish(ev)
	c.Publish(ev)
	first, _ := collectEvents(t, w, 2)
	// The watcher can see an event before the kiosk has its PUBACK: stop
	// only once both left the outbox, or the restarted client re-sends one
	// (at least once) and it is read here as the first event after the
	// restart.
	for deadline := time.Now().Add(time.Minute); c.Stats().OutboxDepth != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("outbox depth %d after both events were delivered, want 0", c.Stats().OutboxDepth)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	// What an unclean stop leaves: no clean marker.
	if err := os.Remove(filepath.Join(state, "kiosk-gap", cleanFile)); err != nil {
		t.Fatal(err)
	}
	c, _ = startClient(t, opts)
	c.Publish(ev)
	c.Publish(ev)
	got, _ := collectEvents(t, w, 2)
	for _, e := range first {
		if e.Gap != "" {
			t.Errorf("seq %d before the restart has gap %q", e.Seq, e.Gap)
		}
	}
	if want := first[1].Seq + mqttapi.UncleanSeqJump + 1; got[0].Seq != want || got[0].Gap != mqttapi.GapRestart {
		t.Errorf("first event after the unclean stop: seq %d gap %q, want %d %q", got[0].Seq, got[0].Gap, want, mqttapi.GapRestart)
	}
	if got[1].Seq != got[0].Seq+1 || got[1].Gap != "" {
		t.Errorf("second event after the unclean stop: seq %d gap %q, want %d and no gap", got[1].Seq, got[1].Gap, got[0].Seq+1)
	}
}
