package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/uplink"
	"github.com/faceverify/faceverify/uplink/mqtt/mqtttest"
)

var testSecret = []byte("test-command-secret-0123456789abcdef")

func uniquePrefix(t testing.TB) string {
	b := make([]byte, 6)
	rand.Read(b)
	return "fvtest-" + hex.EncodeToString(b)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// watcher is a plain paho client collecting messages of topic filters.
type watcher struct {
	c  paho.Client
	ch chan paho.Message
}

func watch(t testing.TB, broker string, filters ...string) *watcher {
	t.Helper()
	w := &watcher{ch: make(chan paho.Message, 1000)}
	o := paho.NewClientOptions().AddBroker(broker).SetClientID("w-" + uniquePrefix(t)).SetCleanSession(true)
	w.c = paho.NewClient(o)
	if tok := w.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	for _, f := range filters {
		tok := w.c.Subscribe(f, 1, func(_ paho.Client, m paho.Message) { w.ch <- m })
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("watcher subscribe: %v", tok.Error())
		}
	}
	t.Cleanup(func() { w.c.Disconnect(100) })
	return w
}

func (w *watcher) next(t testing.TB) paho.Message {
	t.Helper()
	select {
	case m := <-w.ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no MQTT message within 10s")
		return nil
	}
}

// nextOn returns the next message on topic, skipping others.
func (w *watcher) nextOn(t testing.TB, topic string) paho.Message {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m := <-w.ch:
			if m.Topic() == topic {
				return m
			}
		case <-deadline:
			t.Fatalf("no message on %s within 15s", topic)
			return nil
		}
	}
}

func (w *watcher) publish(t testing.TB, topic string, payload []byte) {
	t.Helper()
	if tok := w.c.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// clearRetained removes retained messages so a real broker stays clean.
func clearRetained(t testing.TB, broker string, topics ...string) {
	o := paho.NewClientOptions().AddBroker(broker).SetClientID("c-" + uniquePrefix(t))
	c := paho.NewClient(o)
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		for _, topic := range topics {
			c.Publish(topic, 1, true, []byte{}).WaitTimeout(5 * time.Second)
		}
		c.Disconnect(100)
	}
}

func testOptions(broker, device, prefix string) Options {
	return Options{Broker: broker, DeviceID: device, Prefix: prefix, QoS: 1, Logger: quietLogger(),
		CommandSecret: testSecret, MachineIDPath: "-", TelemetryInterval: -1}
}

func startClient(t testing.TB, opts Options) (*Client, func()) {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, runClient(t, c, true)
}

// runClient runs c until the returned stop is called (or the test ends);
// with wait it first waits for the connection.
func runClient(t testing.TB, c *Client, wait bool) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("Run did not stop")
			}
		})
	}
	t.Cleanup(stop)
	if wait {
		waitConnected(t, c)
	}
	return stop
}

func waitConnected(t testing.TB, c *Client) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !c.Connected() {
		if time.Now().After(deadline) {
			t.Fatalf("client did not connect to %s", c.opts.Broker)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func decodeEvent(t testing.TB, m paho.Message) mqttapi.EventMessage {
	t.Helper()
	var ev mqttapi.EventMessage
	if err := json.Unmarshal(m.Payload(), &ev); err != nil {
		t.Fatalf("event %q: %v", m.Payload(), err)
	}
	return ev
}

func TestEventsInOrderAtQoS1(t *testing.T) {
	broker := mqtttest.Broker(t)
	prefix := uniquePrefix(t)
	c, stop := startClient(t, testOptions(broker, "kiosk-1", prefix))
	defer stop()
	defer clearRetained(t, broker, c.StatusTopic())
	w := watch(t, broker, c.EventsTopic())

	states := []string{"capturing", "uploading", "processing", "verified"}
	for _, s := range states {
		c.Publish(uplink.Event{SessionID: "s1", CorrelationID: "corr-1", State: s, Attempt: 1})
	}
	for i, want := range states {
		m := w.next(t)
		if m.Qos() != 1 {
			t.Errorf("event %d delivered at QoS %d, want 1", i, m.Qos())
		}
		if m.Retained() {
			t.Errorf("event %d retained", i)
		}
		mqtttest.Validate(t, mqtttest.SchemaEvent, m.Payload())
		ev := decodeEvent(t, m)
		if ev.V != 1 || ev.State != want || ev.Seq != uint64(i+1) || ev.DeviceID != "kiosk-1" || ev.CorrelationID != "corr-1" || ev.Time.IsZero() {
			t.Errorf("event %d = %+v, want state %s seq %d", i, ev, want, i+1)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for c.Stats().Published != 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := c.Stats(); s.Published != 4 || s.Dropped != 0 || s.OutboxDepth != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestRetainedOnlineDegradedThenOfflineOnCleanStop(t *testing.T) {
	broker := mqtttest.Broker(t)
	prefix := uniquePrefix(t)
	o := testOptions(broker, "kiosk-2", prefix)
	o.Version = "1.2.3"
	c, stop := startClient(t, o)
	defer clearRetained(t, broker, c.StatusTopic())

	status := func(m paho.Message) mqttapi.Status {
		t.Helper()
		mqtttest.Validate(t, mqtttest.SchemaStatus, m.Payload())
		var st mqttapi.Status
		if err := json.Unmarshal(m.Payload(), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	// A subscriber arriving after the fact gets the retained status.
	w := watch(t, broker, c.StatusTopic())
	m := w.next(t)
	if st := status(m); !m.Retained() || st.State != mqttapi.StateOnline || st.DeviceID != "kiosk-2" || st.Version != "1.2.3" || st.Time == nil {
		t.Fatalf("status %s retained=%v, want retained online", m.Payload(), m.Retained())
	}
	c.SetDegraded("camera_lost")
	if st := status(w.next(t)); st.State != mqttapi.StateDegraded || st.Reason != "camera_lost" {
		t.Fatalf("after SetDegraded: %+v", st)
	}
	c.SetDegraded("")
	if st := status(w.next(t)); st.State != mqttapi.StateOnline || st.Reason != "" {
		t.Fatalf("after clearing: %+v", st)
	}
	stop()
	if st := status(w.next(t)); st.State != mqttapi.StateOffline || st.Reason != mqttapi.ReasonShutdown {
		t.Fatalf("after clean stop status %+v, want offline/shutdown", st)
	}
	w2 := watch(t, broker, c.StatusTopic())
	m = w2.next(t)
	if st := status(m); !m.Retained() || st.State != mqttapi.StateOffline {
		t.Errorf("retained after stop %s retained=%v, want offline", m.Payload(), m.Retained())
	}
}

// netGate is a dialer the test can switch off, cutting the live
// connection without DISCONNECT (as a network failure does).
type netGate struct {
	mu    sync.Mutex
	conns []net.Conn
	down  bool
}

func (g *netGate) open(u *url.URL) (net.Conn, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down {
		return nil, errors.New("test: network down")
	}
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err == nil {
		g.conns = append(g.conns, c)
	}
	return c, err
}

func (g *netGate) set(down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = down
	if down {
		for _, c := range g.conns {
			c.Close()
		}
		g.conns = nil
	}
}

func TestLastWillOfflineWhenConnectionDrops(t *testing.T) {
	broker := mqtttest.Broker(t)
	prefix := uniquePrefix(t)
	gate := &netGate{}
	o := testOptions(broker, "kiosk-3", prefix)
	o.KeepAlive, o.OpenConn, o.MaxReconnectInterval = time.Second, gate.open, time.Second
	c, stop := startClient(t, o)
	defer stop()
	defer clearRetained(t, broker, c.StatusTopic())
	w := watch(t, broker, c.StatusTopic())
	var st mqttapi.Status
	if m := w.next(t); json.Unmarshal(m.Payload(), &st) != nil || st.State != mqttapi.StateOnline {
		t.Fatalf("first status %s, want online", m.Payload())
	}

	gate.set(true)
	m := w.next(t)
	mqtttest.Validate(t, mqtttest.SchemaStatus, m.Payload())
	if json.Unmarshal(m.Payload(), &st) != nil || st.State != mqttapi.StateOffline || st.Reason != mqttapi.ReasonConnectionLost {
		t.Fatalf("after the drop status %s, want the offline will", m.Payload())
	}
	w2 := watch(t, broker, c.StatusTopic())
	m = w2.next(t)
	if json.Unmarshal(m.Payload(), &st) != nil || st.State != mqttapi.StateOffline || !m.Retained() {
		t.Errorf("retained after drop %s retained=%v, want offline", m.Payload(), m.Retained())
	}

	// The network comes back: the client reconnects and is online again.
	gate.set(false)
	m = w.next(t)
	if json.Unmarshal(m.Payload(), &st) != nil || st.State != mqttapi.StateOnline {
		t.Errorf("after reconnect status %s, want online", m.Payload())
	}
	waitConnected(t, c)
	if s := c.Stats(); s.Reconnects < 1 {
		t.Errorf("reconnects %d, want ≥ 1", s.Reconnects)
	}
}

// replyOf decodes and schema-checks a reply.
func replyOf(t testing.TB, m paho.Message) mqttapi.Reply {
	t.Helper()
	mqtttest.Validate(t, mqtttest.SchemaReply, m.Payload())
	var r mqttapi.Reply
	if err := json.Unmarshal(m.Payload(), &r); err != nil {
		t.Fatalf("reply %q: %v", m.Payload(), err)
	}
	return r
}

func TestSignedCommands(t *testing.T) {
	broker := mqtttest.Broker(t)
	prefix := uniquePrefix(t)
	c, err := New(testOptions(broker, "kiosk-4", prefix))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan mqttapi.Command, 10)
	c.HandleCommand(mqttapi.CmdIdentify, func(ctx context.Context, cmd mqttapi.Command) mqttapi.Reply {
		got <- cmd
		return mqttapi.ResultReply(map[string]any{"effect": "logged", "duration_ms": 1000})
	})
	runClient(t, c, true)
	defer clearRetained(t, broker, c.StatusTopic())
	w := watch(t, broker, c.topic("cmd/+/reply"))
	topic := c.CommandTopic(mqttapi.CmdIdentify)

	good, err := mqttapi.SignCommand(testSecret, topic, "r-good", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	mqtttest.Validate(t, mqtttest.SchemaCommand, good)
	var env mqttapi.CommandEnvelope
	json.Unmarshal(good, &env)
	mqtttest.Validate(t, mqtttest.SchemaCommandBody(mqttapi.CmdIdentify), env.Body)

	w.publish(t, topic, good)
	r := replyOf(t, w.nextOn(t, c.ReplyTopic(mqttapi.CmdIdentify)))
	if !r.OK || r.RequestID != "r-good" || r.Command != mqttapi.CmdIdentify || r.DeviceID != "kiosk-4" {
		t.Fatalf("good command reply %+v", r)
	}
	select {
	case cmd := <-got:
		if cmd.Source != mqttapi.SourceSigned || cmd.RequestID != "r-good" {
			t.Errorf("handler got %+v", cmd)
		}
	case <-time.After(time.Minute):
		t.Fatal("handler not called")
	}

	otherDevice, _ := mqttapi.SignCommand(testSecret, prefix+"/kiosk-other/cmd/identify", "r-other", time.Now(), nil)
	wrongKey, _ := mqttapi.SignCommand([]byte("not-the-secret-at-all-0123456789"), topic, "r-key", time.Now(), nil)
	stale, _ := mqttapi.SignCommand(testSecret, topic, "r-stale", time.Now().Add(-10*time.Minute), nil)
	var tampered mqttapi.CommandEnvelope
	json.Unmarshal(good, &tampered)
	tampered.Body = json.RawMessage(strings.Replace(string(tampered.Body), "r-good", "r-evil", 1))
	tamperedB, _ := json.Marshal(tampered)
	unknown, _ := mqttapi.SignCommand(testSecret, c.CommandTopic("format-disk"), "r-unknown", time.Now(), nil)

	for _, tc := range []struct {
		name, topic string
		payload     []byte
		wantCode    string
		wantReqID   string
	}{
		{"replayed", topic, good, "replayed", "r-good"},
		{"unsigned", topic, []byte(`{"request_id":"r-plain"}`), "unauthorized", "r-plain"},
		{"not json", topic, []byte(`identify please`), "unauthorized", ""},
		{"signed for another device", topic, otherDevice, "unauthorized", "r-other"},
		{"wrong key", topic, wrongKey, "unauthorized", "r-key"},
		{"tampered body", topic, tamperedB, "unauthorized", "r-evil"},
		{"stale timestamp", topic, stale, "expired", "r-stale"},
		{"unknown command", c.CommandTopic("format-disk"), unknown, "unsupported", "r-unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.publish(t, tc.topic, tc.payload)
			name := strings.TrimPrefix(tc.topic, c.topic("cmd/"))
			r := replyOf(t, w.nextOn(t, c.ReplyTopic(name)))
			if r.OK || r.Error == nil || r.Error.Code != tc.wantCode || r.RequestID != tc.wantReqID {
				t.Errorf("reply %+v (error %+v), want code %s request_id %q", r, r.Error, tc.wantCode, tc.wantReqID)
			}
		})
	}
	select {
	case cmd := <-got:
		t.Errorf("a refused command reached the handler: %+v", cmd)
	default:
	}
	if s := c.Stats(); s.Commands != 1 || s.Refused != 8 {
		t.Errorf("stats %+v, want 1 command and 8 refused", s)
	}
}

func TestCommandsRefusedWithoutSecret(t *testing.T) {
	broker := mqtttest.Broker(t)
	prefix := uniquePrefix(t)
	o := testOptions(broker, "kiosk-6", prefix)
	o.CommandSecret = nil
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	called := make(chan struct{}, 1)
	c.HandleCommand(mqttapi.CmdCancel, func(context.Context, mqttapi.Command) mqttapi.Reply {
		called <- struct{}{}
		return mqttapi.ResultReply(nil)
	})
	runClient(t, c, true)
	defer clearRetained(t, broker, c.StatusTopic())
	w := watch(t, broker, c.ReplyTopic(mqttapi.CmdCancel))
	p, _ := mqttapi.SignCommand(testSecret, c.CommandTopic(mqttapi.CmdCancel), "r1", time.Now(), nil)
	w.publish(t, c.CommandTopic(mqttapi.CmdCancel), p)
	r := replyOf(t, w.next(t))
	if r.OK || r.Error.Code != "unauthorized" || !strings.Contains(r.Error.Message, "no command secret") {
		t.Errorf("reply %+v %+v", r, r.Error)
	}
	select {
	case <-called:
		t.Error("handler called without a configured secret")
	default:
	}
}

func TestPublishNeverBlocksAndDropsOldest(t *testing.T) {
	c, err := New(Options{Broker: "tcp://127.0.0.1:1", DeviceID: "kiosk-5", QueueSize: 3, MachineIDPath: "-", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10; i++ {
			c.Publish(uplink.Event{State: "capturing"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Publish blocked without a broker")
	}
	if s := c.Stats(); s.Dropped != 7 || s.Queued != 10 || s.OutboxDepth != 3 {
		t.Errorf("stats %+v, want 7 dropped of 10", s)
	}
	if it, _ := c.outbox.head(); it.seq != 8 {
		t.Errorf("oldest kept seq %d, want 8", it.seq)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"no broker", Options{DeviceID: "k"}},
		{"bad scheme", Options{Broker: "http://x:1", DeviceID: "k"}},
		{"wildcard device", Options{Broker: "tcp://x:1", DeviceID: "k/+"}},
		{"qos 3", Options{Broker: "tcp://x:1", DeviceID: "k", QoS: 3}},
		{"bad prefix", Options{Broker: "tcp://x:1", DeviceID: "k", Prefix: "a/#"}},
		{"cert without key", Options{Broker: "tcp://x:1", DeviceID: "k", CertFile: "c.pem"}},
		{"missing ca file", Options{Broker: "ssl://x:1", DeviceID: "k", CAFile: "/nonexistent/ca.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.MachineIDPath = "-"
			if _, err := New(tc.o); err == nil {
				t.Error("accepted")
			}
		})
	}
}
