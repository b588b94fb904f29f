package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/faceverify/faceverify/uplink"
	"github.com/faceverify/faceverify/uplink/mqtt/mqtttest"
)

func uniquePrefix(t *testing.T) string {
	b := make([]byte, 6)
	rand.Read(b)
	return "fvtest-" + hex.EncodeToString(b)
}

// watcher is a plain paho client collecting messages of one topic filter.
type watcher struct {
	c  paho.Client
	ch chan paho.Message
}

func watch(t *testing.T, broker, filter string) *watcher {
	t.Helper()
	w := &watcher{ch: make(chan paho.Message, 100)}
	id := uniquePrefix(t)
	o := paho.NewClientOptions().AddBroker(broker).SetClientID("w-" + id).SetCleanSession(true)
	w.c = paho.NewClient(o)
	if tok := w.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	tok := w.c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) { w.ch <- m })
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { w.c.Disconnect(100) })
	return w
}

func (w *watcher) next(t *testing.T) paho.Message {
	t.Helper()
	select {
	case m := <-w.ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no MQTT message within 10s")
		return nil
	}
}

// clearRetained removes the retained status so a real broker stays clean.
func clearRetained(t *testing.T, broker, topic string) {
	o := paho.NewClientOptions().AddBroker(broker).SetClientID("c-" + uniquePrefix(t))
	c := paho.NewClient(o)
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Publish(topic, 1, true, []byte{}).WaitTimeout(5 * time.Second)
		c.Disconnect(100)
	}
}

func startClient(t *testing.T, opts Options) (*Client, func()) {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop")
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !c.Connected() {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("client did not connect to %s", opts.Broker)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c, stop
}

func TestEventsInOrderAtQoS1(t *testing.T) {
	broker := mqtttest.Broker(t)
	prefix := uniquePrefix(t)
	c, stop := startClient(t, Options{Broker: broker, DeviceID: "kiosk-1", Prefix: prefix, QoS: 1})
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
		var ev uplink.Event
		if err := json.Unmarshal(m.Payload(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.State != want || ev.Seq != uint64(i+1) || ev.DeviceID != "kiosk-1" || ev.CorrelationID != "corr-1" || ev.Time.IsZero() {
			t.Errorf("event %d = %+v, want state %s seq %d", i, ev, want, i+1)
		}
	}
	if s := c.Stats(); s.Published != 4 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestRetainedOnlineThenOfflineOnCleanStop(t *testing.T) {
	broker := mqtttest.Broker(t)
	prefix := uniquePrefix(t)
	c, stop := startClient(t, Options{Broker: broker, DeviceID: "kiosk-2", Prefix: prefix, QoS: 1})
	defer clearRetained(t, broker, c.StatusTopic())

	// A subscriber arriving after the fact gets the retained status.
	w := watch(t, broker, c.StatusTopic())
	m := w.next(t)
	var st Status
	json.Unmarshal(m.Payload(), &st)
	if !m.Retained() || st.State != "online" || st.DeviceID != "kiosk-2" {
		t.Fatalf("status %s retained=%v, want retained online", m.Payload(), m.Retained())
	}
	stop()
	m = w.next(t)
	json.Unmarshal(m.Payload(), &st)
	if st.State != "offline" {
		t.Fatalf("after clean stop status %s, want offline", m.Payload())
	}
	w2 := watch(t, broker, c.StatusTopic())
	m = w2.next(t)
	json.Unmarshal(m.Payload(), &st)
	if !m.Retained() || st.State != "offline" {
		t.Errorf("retained after stop %s retained=%v, want offline", m.Payload(), m.Retained())
	}
}

func TestLastWillOfflineWhenConnectionDrops(t *testing.T) {
	broker := mqtttest.Broker(t)
	prefix := uniquePrefix(t)
	var mu sync.Mutex
	var conn net.Conn
	refuse := false
	open := func(u *url.URL) (net.Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			return nil, errors.New("test: network down")
		}
		c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		conn = c
		return c, err
	}
	c, stop := startClient(t, Options{Broker: broker, DeviceID: "kiosk-3", Prefix: prefix, QoS: 1, KeepAlive: time.Second, OpenConn: open})
	defer stop()
	defer clearRetained(t, broker, c.StatusTopic())
	w := watch(t, broker, c.StatusTopic())
	var st Status
	if m := w.next(t); json.Unmarshal(m.Payload(), &st) != nil || st.State != "online" {
		t.Fatalf("first status %s, want online", m.Payload())
	}

	// Cut the TCP connection without DISCONNECT and keep the network down.
	mu.Lock()
	refuse = true
	conn.Close()
	mu.Unlock()

	m := w.next(t)
	if json.Unmarshal(m.Payload(), &st) != nil || st.State != "offline" {
		t.Fatalf("after the drop status %s, want the offline will", m.Payload())
	}
	w2 := watch(t, broker, c.StatusTopic())
	m = w2.next(t)
	if json.Unmarshal(m.Payload(), &st) != nil || st.State != "offline" || !m.Retained() {
		t.Errorf("retained after drop %s retained=%v, want offline", m.Payload(), m.Retained())
	}

	// The network comes back: the client reconnects and is online again.
	mu.Lock()
	refuse = false
	mu.Unlock()
	m = w.next(t)
	if json.Unmarshal(m.Payload(), &st) != nil || st.State != "online" {
		t.Errorf("after reconnect status %s, want online", m.Payload())
	}
}

func TestCommandAndReply(t *testing.T) {
	broker := mqtttest.Broker(t)
	prefix := uniquePrefix(t)
	c, err := New(Options{Broker: broker, DeviceID: "kiosk-4", Prefix: prefix, QoS: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	c.Handle("verify", func(ctx context.Context, payload []byte) []byte {
		got <- string(payload)
		return []byte(`{"ok":true}`)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	defer clearRetained(t, broker, c.StatusTopic())
	for !c.Connected() {
		time.Sleep(10 * time.Millisecond)
	}
	w := watch(t, broker, c.ReplyTopic("verify"))
	w.c.Publish(c.CommandTopic("verify"), 1, false, []byte(`{"request_id":"r1"}`)).WaitTimeout(5 * time.Second)
	select {
	case p := <-got:
		if p != `{"request_id":"r1"}` {
			t.Errorf("handler got %q", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("command not delivered")
	}
	if m := w.next(t); string(m.Payload()) != `{"ok":true}` {
		t.Errorf("reply %q", m.Payload())
	}
}

func TestPublishNeverBlocksAndDropsOldest(t *testing.T) {
	c, err := New(Options{Broker: "tcp://127.0.0.1:1", DeviceID: "kiosk-5", QueueSize: 3})
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
	if s := c.Stats(); s.Dropped != 7 || s.Queued != 10 {
		t.Errorf("stats %+v, want 7 dropped of 10", s)
	}
	if ev, _ := c.peek(); ev.Seq != 8 {
		t.Errorf("oldest kept seq %d, want 8", ev.Seq)
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.o); err == nil {
				t.Error("accepted")
			}
		})
	}
}
