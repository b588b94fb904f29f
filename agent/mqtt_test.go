package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"image/color"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/uplink/mqtt"
	"github.com/faceverify/faceverify/uplink/mqtt/mqtttest"
)

// allowedEventKeys is everything an MQTT event may carry: no image, score,
// embedding or token fields.
var allowedEventKeys = map[string]bool{
	"device_id": true, "session_id": true, "correlation_id": true, "state": true,
	"reason": true, "attempt": true, "seq": true, "time": true,
}

func TestDaemonMQTTCommandAndEvents(t *testing.T) {
	broker := mqtttest.Broker(t)
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "fvtest-" + hex.EncodeToString(b)

	gw := agenttest.NewGateway(token)
	defer gw.Close()
	release := make(chan struct{})
	gw.OnStatus = func(uploads, poll int) (api.StatusResponse, int) {
		select {
		case <-release:
			return api.StatusResponse{Status: api.StatusVerified, NextAction: api.ActionExit}, 200
		default:
			return api.StatusResponse{Status: api.StatusProcessing, NextAction: api.ActionStatus, RetryAfterMS: 50}, 200
		}
	}
	cfg := testCfg()
	cfg.MQTT.Broker, cfg.MQTT.Prefix = broker, prefix
	mc, err := mqtt.New(mqtt.Options{Broker: broker, DeviceID: cfg.Device.ID, Prefix: prefix, QoS: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	an := &agenttest.Analyzer{ByColor: map[color.RGBA]inference.Analysis{green: agenttest.OneFace(faceBox, true)}}
	h := start(t, cfg, source(green), an, gw, mc)
	mc.Handle("verify", h.a.HandleVerifyCommand)
	mctx, mcancel := context.WithCancel(context.Background())
	mdone := make(chan struct{})
	go func() { mc.Run(mctx); close(mdone) }()
	defer func() { mcancel(); <-mdone }()

	// Watch replies and events.
	msgs := make(chan paho.Message, 100)
	wc := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("w-" + prefix))
	if tok := wc.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer wc.Disconnect(100)
	for _, topic := range []string{mc.EventsTopic(), mc.ReplyTopic("verify")} {
		if tok := wc.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { msgs <- m }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	defer wc.Publish(mc.StatusTopic(), 1, true, []byte{}) // leave a real broker clean
	for !mc.Connected() {
		time.Sleep(10 * time.Millisecond)
	}

	var events []map[string]any
	var raw []string
	reply := func() CommandReply {
		t.Helper()
		for {
			select {
			case m := <-msgs:
				if m.Topic() == mc.ReplyTopic("verify") {
					var r CommandReply
					if err := json.Unmarshal(m.Payload(), &r); err != nil {
						t.Fatalf("reply %q: %v", m.Payload(), err)
					}
					return r
				}
				var e map[string]any
				json.Unmarshal(m.Payload(), &e)
				events = append(events, e)
				raw = append(raw, string(m.Payload()))
			case <-time.After(10 * time.Second):
				t.Fatal("no reply within 10s")
			}
		}
	}
	send := func(payload string) CommandReply {
		t.Helper()
		wc.Publish(mc.CommandTopic("verify"), 1, false, []byte(payload)).WaitTimeout(5 * time.Second)
		return reply()
	}

	// A malformed command gets a clear error and changes nothing.
	r := send(`{"request_id":"bad-1","token":"t","correlation_id":"c","base_url":"http://gw.example.com"}`)
	if r.OK || r.RequestID != "bad-1" || r.Error == nil || r.Error.Field != "base_url" {
		t.Fatalf("malformed reply %+v", r)
	}
	r = send(`not json at all`)
	if r.OK || r.Error == nil || r.Error.Code != "bad_request" {
		t.Fatalf("garbage reply %+v", r)
	}
	if _, ok := h.a.Session(); ok {
		t.Fatal("a malformed command started a session")
	}

	// A good command starts a session; a second one is busy.
	r = send(`{"request_id":"ok-1","token":"` + token + `","correlation_id":"corr-mqtt","base_url":"` + gw.URL() + `"}`)
	if !r.OK || r.RequestID != "ok-1" || r.Session == nil || r.Session.CorrelationID != "corr-mqtt" {
		t.Fatalf("launch reply %+v", r)
	}
	r = send(`{"requestId":"ok-2","token":"` + token + `","correlationId":"corr-2","baseURL":"` + gw.URL() + `"}`)
	if r.OK || r.RequestID != "ok-2" || r.Error == nil || r.Error.Code != "busy" {
		t.Fatalf("second launch reply %+v, want busy", r)
	}
	close(release)

	// Collect events until the final one.
	deadline := time.After(15 * time.Second)
	for len(events) == 0 || events[len(events)-1]["state"] != "verified" {
		select {
		case m := <-msgs:
			var e map[string]any
			json.Unmarshal(m.Payload(), &e)
			events = append(events, e)
			raw = append(raw, string(m.Payload()))
		case <-deadline:
			t.Fatalf("events so far %v", raw)
		}
	}
	var got []string
	for i, e := range events {
		got = append(got, e["state"].(string))
		if e["device_id"] != "kiosk-test" || e["correlation_id"] != "corr-mqtt" || e["seq"] != float64(i+1) {
			t.Errorf("event %d: %v", i, raw[i])
		}
		for k := range e {
			if !allowedEventKeys[k] {
				t.Errorf("event %d carries field %q: %s", i, k, raw[i])
			}
		}
		for _, bad := range []string{token, "score", "liveness", "selfie", "image", "embedding", "similarity", "jpeg"} {
			if strings.Contains(strings.ToLower(raw[i]), strings.ToLower(bad)) {
				t.Errorf("event %d contains %q: %s", i, bad, raw[i])
			}
		}
	}
	if strings.Join(got, ",") != "capturing,uploading,processing,verified" {
		t.Errorf("events %v", got)
	}
	if n := len(gw.Submissions()); n != 1 {
		t.Errorf("%d submissions, want 1", n)
	}
}
