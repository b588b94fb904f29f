// Package mqtttest gives tests an MQTT broker: the real one named by
// FACEVERIFY_TEST_MQTT (as CI runs mosquitto) or else an in-process mochi
// broker on a loopback port; and a private mosquitto process a test can
// stop and restart (StartMosquitto).
package mqtttest

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/faceverify/faceverify/internal/testenv"
)

// EnvBroker names the environment variable holding a test broker URL.
const EnvBroker = "FACEVERIFY_TEST_MQTT"

// Broker returns the URL of a broker for t. When FACEVERIFY_TEST_MQTT is
// set the broker must be reachable (the test fails otherwise); when unset an
// in-process broker is started and stopped with the test, except in CI
// (testenv.InCI), where the test fails: .ci/run always sets it.
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
	if testenv.InCI() {
		t.Fatalf("CI: %s is unset: .ci/run starts mosquitto and sets it", EnvBroker)
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
	t.Cleanup(func() { closeEmbedded(t, s, ln) })
	return "tcp://" + ln.Addr().String()
}

// embeddedCloseTimeout bounds Server.Close of an embedded broker.
const embeddedCloseTimeout = 5 * time.Second

// closeEmbedded stops s without letting a stuck Close hang the test:
// mochi-mqtt v2.7.9 can deadlock in Close when a client detaches at the
// same moment (Clients.GetByListener takes its read lock twice, and a
// writer queued in between blocks both; mochi-mqtt/server#488). After
// embeddedCloseTimeout the broker's goroutines are left behind and its
// port is closed, so the test still ends.
func closeEmbedded(t testing.TB, s *mochi.Server, ln net.Listener) {
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(embeddedCloseTimeout):
		ln.Close()
		t.Logf("embedded MQTT broker did not close within %v (mochi-mqtt/server#488); left running", embeddedCloseTimeout)
	}
}

// Mosquitto is a private mosquitto process a test can stop and restart on
// the same loopback port (broker restarts, outages).
type Mosquitto struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// StartMosquitto starts a private mosquitto (the Debian package's binary)
// on a free loopback port, with extra appended to its configuration
// (e.g. "persistence true"). It is stopped with the test. Without the
// binary the test is skipped with a message naming the package, except in
// CI (CI set), where it fails.
func StartMosquitto(t testing.TB, extra string) *Mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto"); serr == nil {
			bin = "/usr/sbin/mosquitto"
		}
	}
	if bin == "" {
		testenv.Missing(t, "mosquitto binary not found: install the Debian package \"mosquitto\" to run this test (.ci/run does)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nuser root\nset_tcp_nodelay true\npersistence_location %s/\nlog_dest file %s/mosquitto.log\n%s\n",
		port, dir, dir, extra)
	if err := os.WriteFile(filepath.Join(dir, "mosquitto.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &Mosquitto{t: t, bin: bin, dir: dir, port: port}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// URL is the broker's tcp:// URL.
func (m *Mosquitto) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.port) }

// Dir is the broker's working directory (config, log, persistence).
func (m *Mosquitto) Dir() string { return m.dir }

// Start starts the broker (again) and waits until it accepts connections.
func (m *Mosquitto) Start() {
	m.t.Helper()
	if m.cmd != nil {
		return
	}
	cmd := exec.Command(m.bin, "-c", filepath.Join(m.dir, "mosquitto.conf"))
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	m.cmd, m.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(m.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", m.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-m.done:
			log, _ := os.ReadFile(filepath.Join(m.dir, "mosquitto.log"))
			m.cmd = nil
			m.t.Fatalf("mosquitto exited at start: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto not listening on port %d after 10s", m.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the broker with SIGTERM (it saves its persistence file, if
// any) and waits for it to exit.
func (m *Mosquitto) Stop() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd = nil
}

// Log returns the broker's log so far.
func (m *Mosquitto) Log() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "mosquitto.log"))
	return string(b)
}
