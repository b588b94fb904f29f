package mqtt

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// account is how a plain test client logs in: user name and password
// (empty for none) and TLS settings (nil for plain TCP).
type account struct {
	user, pass string
	tls        *tls.Config
}

// dialAs connects a plain paho client (MQTT 3.1.1, clean session, no
// automatic reconnect, so that a broker that drops it shows) whose
// messages go to the returned watcher's channel.
func dialAs(t testing.TB, broker string, a account) (*watcher, error) {
	t.Helper()
	w := &watcher{ch: make(chan paho.Message, 1000)}
	o := paho.NewClientOptions().AddBroker(broker).SetClientID("t-" + randID()).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { w.ch <- m })
	if a.user != "" {
		o.SetUsername(a.user).SetPassword(a.pass)
	}
	if a.tls != nil {
		o.SetTLSConfig(a.tls)
	}
	w.c = paho.NewClient(o)
	tok := w.c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect as %q: no CONNACK within 10s", a.user)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { w.c.Disconnect(100) })
	return w, nil
}

// watchAs is dialAs that fails the test on error, then subscribes to
// filters at QoS 1.
func watchAs(t testing.TB, broker string, a account, filters ...string) *watcher {
	t.Helper()
	w, err := dialAs(t, broker, a)
	if err != nil {
		t.Fatalf("connect as %q: %v", a.user, err)
	}
	for _, f := range filters {
		w.subscribe(t, f)
	}
	return w
}

// subscribe subscribes to filter at QoS 1 and returns the granted QoS
// (0x80: refused).
func (w *watcher) subscribe(t testing.TB, filter string) byte {
	t.Helper()
	tok := w.c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) { w.ch <- m })
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

// until has marker publish a fresh payload to topic (w must receive it)
// and returns what w received before that payload. The broker forwards
// messages in the order it accepted them, and a QoS 1 publish is accepted
// before its PUBACK: a message published (and acknowledged) before the
// marker that w may read has arrived by then. This makes "w never got it"
// a check without sleeps.
func (w *watcher) until(t testing.TB, marker *watcher, topic string) []paho.Message {
	t.Helper()
	id := []byte("marker-" + randID())
	marker.publish(t, topic, id)
	var got []paho.Message
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-w.ch:
			if m.Topic() == topic && string(m.Payload()) == string(id) {
				return got
			}
			got = append(got, m)
		case <-deadline:
			t.Fatalf("marker on %s not received within 10s", topic)
			return nil
		}
	}
}

// saw reports whether msgs hold payload on topic.
func saw(msgs []paho.Message, topic string, payload []byte) bool {
	for _, m := range msgs {
		if m.Topic() == topic && string(m.Payload()) == string(payload) {
			return true
		}
	}
	return false
}

func randID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
