package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image/color"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/agent/config"
	"github.com/faceverify/faceverify/agent/health"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/uplink/mqtt"
	"github.com/faceverify/faceverify/uplink/mqtt/mqtttest"
)

var fleetSecret = []byte("fleet-test-secret-0123456789abcdef")

func fleetPrefix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "fvtest-" + hex.EncodeToString(b)
}

// captured is one message seen by a tap.
type captured struct {
	topic    string
	payload  []byte
	retained bool
	at       time.Time
}

// tap subscribes to filters and keeps every message, also streaming them.
type tap struct {
	c   paho.Client
	mu  sync.Mutex
	all []captured
	ch  chan captured
}

func newTap(t *testing.T, broker string, filters ...string) *tap {
	t.Helper()
	tp := &tap{ch: make(chan captured, 1000)}
	tp.c = paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("tap-" + fleetPrefix()))
	if tok := tp.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("tap connect: %v", tok.Error())
	}
	for _, f := range filters {
		tok := tp.c.Subscribe(f, 1, func(_ paho.Client, m paho.Message) {
			c := captured{topic: m.Topic(), payload: append([]byte(nil), m.Payload()...), retained: m.Retained(), at: time.Now()}
			tp.mu.Lock()
			tp.all = append(tp.all, c)
			tp.mu.Unlock()
			tp.ch <- c
		})
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("tap subscribe %s: %v", f, tok.Error())
		}
	}
	t.Cleanup(func() { tp.c.Disconnect(100) })
	return tp
}

func (tp *tap) messages() []captured {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]captured(nil), tp.all...)
}

// wait returns the next message on topic satisfying ok.
func (tp *tap) wait(t *testing.T, topic string, ok func(captured) bool) captured {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case c := <-tp.ch:
			if c.topic == topic && (ok == nil || ok(c)) {
				return c
			}
		case <-deadline:
			t.Fatalf("no matching message on %s within 20s", topic)
		}
	}
}

// send publishes a signed command and returns its reply.
func (tp *tap) send(t *testing.T, mc *mqtt.Client, name, requestID string, args any) mqttapi.Reply {
	t.Helper()
	p, err := mqttapi.SignCommand(fleetSecret, mc.CommandTopic(name), requestID, time.Now(), args)
	if err != nil {
		t.Fatal(err)
	}
	return tp.sendRaw(t, mc, name, requestID, p)
}

func (tp *tap) sendRaw(t *testing.T, mc *mqtt.Client, name, requestID string, payload []byte) mqttapi.Reply {
	t.Helper()
	if tok := tp.c.Publish(mc.CommandTopic(name), 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	c := tp.wait(t, mc.ReplyTopic(name), func(c captured) bool {
		var r mqttapi.Reply
		return json.Unmarshal(c.payload, &r) == nil && r.RequestID == requestID
	})
	var r mqttapi.Reply
	json.Unmarshal(c.payload, &r)
	return r
}

func clearTopics(broker string, topics ...string) {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("clr-" + fleetPrefix()))
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		for _, topic := range topics {
			c.Publish(topic, 1, true, []byte{}).WaitTimeout(5 * time.Second)
		}
		c.Disconnect(100)
	}
}

// thermalFixture makes a sysfs tree with one CPU thermal zone at 47.5 °C.
func thermalFixture(t *testing.T) string {
	root := t.TempDir()
	z := filepath.Join(root, "class", "thermal", "thermal_zone0")
	os.MkdirAll(z, 0o755)
	os.WriteFile(filepath.Join(z, "type"), []byte("cpu-thermal\n"), 0o644)
	os.WriteFile(filepath.Join(z, "temp"), []byte("47500\n"), 0o644)
	return root
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestFleetOverMQTT drives the agent over the fleet interface: signed
// commands (verify, cancel, identify, self-test, reload-config), refused
// commands, events, telemetry and discovery; every message the agent sent
// is validated against gateway/mqttapi/schemas and checked for biometric data and
// secrets.
func TestFleetOverMQTT(t *testing.T) {
	broker := mqtttest.Broker(t)
	prefix := fleetPrefix()
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
	cfg.MQTT.StateDir, cfg.MQTT.CommandSecret = t.TempDir(), fleetSecret
	cfg.MQTT.TelemetryInterval, cfg.MQTT.HAPrefix = time.Second, prefix+"-ha"
	mc, err := NewMQTTClient(cfg, "1.0.0-test", quiet())
	if err != nil || mc == nil {
		t.Fatalf("NewMQTTClient: %v %v", mc, err)
	}
	an := &agenttest.Analyzer{ByColor: map[color.RGBA]inference.Analysis{green: agenttest.OneFace(faceBox, true)}}
	h := start(t, cfg, source(green), an, gw, mc)

	// The config file reload-config reads.
	cfgPath := filepath.Join(t.TempDir(), "faceagent.toml")
	os.WriteFile(cfgPath, []byte("[device]\nid = \"kiosk-test\"\n[mqtt]\nbroker = \"\"\n"), 0o600)
	health := h.a.ServeFleet(mc, FleetOptions{ConfigPath: cfgPath, SysfsRoot: thermalFixture(t), HealthInterval: 100 * time.Millisecond})

	tp := newTap(t, broker, prefix+"/#", cfg.MQTT.HAPrefix+"/#")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { mc.Run(ctx); done <- struct{}{} }()
	go func() { health(ctx); done <- struct{}{} }()
	defer func() {
		var topics []string
		for _, d := range mc.Discovery() {
			topics = append(topics, d.Topic)
		}
		clearTopics(broker, append(topics, mc.StatusTopic(), mc.TelemetryTopic())...)
	}()
	defer func() { cancel(); <-done; <-done }()
	tp.wait(t, mc.StatusTopic(), nil)
	waitMQTT(t, mc)

	// Refused: unsigned, bad field; nothing starts.
	if r := tp.sendRaw(t, mc, "verify", "plain-1", []byte(`{"request_id":"plain-1","token":"`+token+`","correlation_id":"c","base_url":"`+gw.URL()+`"}`)); r.OK || r.Error.Code != "unauthorized" {
		t.Fatalf("unsigned verify reply %+v", r)
	}
	if r := tp.send(t, mc, "verify", "bad-1", map[string]string{"token": token, "correlation_id": "c", "base_url": "http://gw.example.com"}); r.OK || r.Error.Field != "base_url" {
		t.Fatalf("bad base_url reply %+v %+v", r, r.Error)
	}
	if _, ok := h.a.Session(); ok {
		t.Fatal("a refused command started a session")
	}
	if r := tp.send(t, mc, "cancel", "cancel-0", nil); r.OK || r.Error.Code != "no_session" {
		t.Fatalf("cancel without session %+v", r)
	}

	// A signed verify starts a session; a second one is busy.
	r := tp.send(t, mc, "verify", "ok-1", map[string]string{"token": token, "correlation_id": "corr-mqtt", "base_url": gw.URL()})
	var sr struct{ Session SessionView }
	json.Unmarshal(r.Result, &sr)
	if !r.OK || sr.Session.CorrelationID != "corr-mqtt" || sr.Session.State != "capturing" {
		t.Fatalf("verify reply %+v %s", r, r.Result)
	}
	if r := tp.send(t, mc, "verify", "ok-2", map[string]string{"token": token, "correlation_id": "c2", "base_url": gw.URL()}); r.OK || r.Error.Code != "busy" {
		t.Fatalf("second verify %+v", r)
	}

	// Identify and self-test while the session runs.
	r = tp.send(t, mc, "identify", "id-1", map[string]int{"duration_ms": 2000})
	var ir IdentifyResult
	json.Unmarshal(r.Result, &ir)
	if !r.OK || ir.DurationMS != 2000 || ir.Effect != "logged" {
		t.Errorf("identify reply %+v %s", r, r.Result)
	}
	if r := tp.send(t, mc, "identify", "id-2", map[string]int{"duration_ms": 5}); r.OK || r.Error.Field != "duration_ms" {
		t.Errorf("identify with a bad duration %+v", r)
	}
	r = tp.send(t, mc, "self-test", "st-1", nil)
	var st SelfTestResult
	json.Unmarshal(r.Result, &st)
	names := map[string]bool{}
	for _, c := range st.Checks {
		names[c.Name] = c.OK
	}
	if !r.OK || !names["agent"] || !names["analyzer"] || !names["camera"] || !names["state_dir"] || !names["cpu_temperature"] {
		t.Errorf("self-test %s", r.Result)
	}

	close(release)
	tp.wait(t, mc.EventsTopic(), func(c captured) bool { return strings.Contains(string(c.payload), `"state":"verified"`) })
	tel := tp.wait(t, mc.TelemetryTopic(), func(c captured) bool {
		return strings.Contains(string(c.payload), `"last_outcome":"verified"`)
	})
	var tm mqttapi.Telemetry
	json.Unmarshal(tel.payload, &tm)
	if tm.CPUTempC == nil || *tm.CPUTempC != 47.5 || tm.Session != "idle" || tm.LED == "" || tm.Camera == nil || tm.Camera.FramesAnalyzed == nil || *tm.Camera.FramesAnalyzed == 0 {
		t.Errorf("telemetry after the session: %s", tel.payload)
	}

	// reload-config: valid (one live key, one restart key), then invalid.
	os.WriteFile(cfgPath, []byte("[device]\nid = \"kiosk-test\"\n[api]\nlisten = \"127.0.0.1:9999\"\n[session]\ntimeout = \"45s\"\npass_frames = 3\n"), 0o600)
	r = tp.send(t, mc, "reload-config", "rc-1", nil)
	var rr ReloadResult
	json.Unmarshal(r.Result, &rr)
	if !r.OK || !slices.Contains(rr.Applied, "session.timeout") || !slices.Contains(rr.Applied, "session.pass_frames") ||
		!slices.Contains(rr.RestartRequired, "api.listen") || slices.Contains(rr.Applied, "api.listen") {
		t.Errorf("reload reply %+v %s", r, r.Result)
	}
	if p := h.a.sessionPolicy(); p.Timeout != 45*time.Second || p.PassFrames != 3 {
		t.Errorf("policy after reload %+v", p)
	}
	os.WriteFile(cfgPath, []byte("[session]\ntimeout = \"-1s\"\n"), 0o600)
	if r := tp.send(t, mc, "reload-config", "rc-2", nil); r.OK || r.Error.Code != "invalid_config" || !strings.Contains(r.Error.Message, "session.timeout") {
		t.Errorf("invalid reload reply %+v %+v", r, r.Error)
	}
	if p := h.a.sessionPolicy(); p.Timeout != 45*time.Second {
		t.Errorf("an invalid reload changed the policy: %+v", p)
	}

	// Everything the agent sent: schema-valid, no biometrics or secrets.
	time.Sleep(200 * time.Millisecond)
	var lat []time.Duration
	kinds := map[string]int{}
	for _, c := range tp.messages() {
		if len(c.payload) == 0 {
			continue
		}
		schema := mqtttest.SchemaForTopic(prefix, c.topic)
		if schema == "" {
			t.Errorf("message on an undocumented topic %s: %s", c.topic, c.payload)
			continue
		}
		kinds[schema]++
		if schema == mqtttest.SchemaCommand {
			continue // sent by the test, some deliberately malformed
		}
		mqtttest.Validate(t, schema, c.payload)
		switch schema {
		case mqtttest.SchemaReply:
			if strings.Contains(string(c.payload), token) {
				t.Errorf("reply carries the token: %s", c.payload)
			}
			continue
		case mqtttest.SchemaEvent:
			var ev mqttapi.EventMessage
			json.Unmarshal(c.payload, &ev)
			lat = append(lat, c.at.Sub(ev.Time))
		}
		mqtttest.AssertNoSecrets(t, c.topic, c.payload, token, string(fleetSecret))
	}
	for _, k := range []string{mqtttest.SchemaStatus, mqtttest.SchemaEvent, mqtttest.SchemaTelemetry, mqtttest.SchemaReply, mqtttest.SchemaHADiscovery} {
		if kinds[k] == 0 {
			t.Errorf("no %s message captured", k)
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		t.Logf("event latency, state change → subscriber (%d events): min %v, median %v, max %v", len(lat), lat[0], lat[len(lat)/2], lat[len(lat)-1])
	}
}

// gate is a dialer the test switches off to hold the agent's reconnect.
type gate struct {
	mu   sync.Mutex
	down bool
}

func (g *gate) open(u *url.URL) (net.Conn, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down {
		return nil, errors.New("test: network down")
	}
	return net.DialTimeout("tcp", u.Host, 5*time.Second)
}

func (g *gate) set(down bool) { g.mu.Lock(); g.down = down; g.mu.Unlock() }

// TestFleetBrokerRestartMidSession restarts a private mosquitto (without
// persistence) while a session is processing: the session ends during the
// outage, every event arrives exactly once after dropping duplicate seqs,
// and a command sent after the restart is handled.
func TestFleetBrokerRestartMidSession(t *testing.T) {
	mq := mqtttest.StartMosquitto(t, "persistence false")
	prefix := fleetPrefix()
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
	g := &gate{}
	mc, err := mqtt.New(mqtt.Options{Broker: mq.URL(), DeviceID: cfg.Device.ID, Prefix: prefix, QoS: 1,
		StateDir: t.TempDir(), CommandSecret: fleetSecret, MachineIDPath: "-", TelemetryInterval: -1,
		MaxReconnectInterval: time.Second, OpenConn: g.open, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	an := &agenttest.Analyzer{ByColor: map[color.RGBA]inference.Analysis{green: agenttest.OneFace(faceBox, true)}}
	h := start(t, cfg, source(green), an, gw, mc)
	h.a.ServeFleet(mc, FleetOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { mc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	tp := newTap(t, mq.URL(), mc.EventsTopic(), mc.ReplyTopic("+"))
	waitMQTT(t, mc)
	if r := tp.send(t, mc, "verify", "v-1", map[string]string{"token": token, "correlation_id": "corr-restart", "base_url": gw.URL()}); !r.OK {
		t.Fatalf("verify %+v", r.Error)
	}
	for !slices.ContainsFunc(tp.messages(), func(c captured) bool { return strings.Contains(string(c.payload), `"state":"processing"`) }) {
		if time.Now().After(deadlineOf(t)) {
			t.Fatal("no processing event")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The broker restarts while the gateway is still processing; the
	// session finishes during the outage.
	mq.Stop()
	g.set(true)
	close(release)
	deadline := time.Now().Add(15 * time.Second)
	for v, _ := h.a.Session(); v.State != "verified"; v, _ = h.a.Session() {
		if time.Now().After(deadline) {
			t.Fatalf("session state %q, want verified", v.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if mc.Stats().OutboxDepth == 0 {
		t.Fatal("the final event was not kept for later")
	}
	mq.Start()
	tp2 := newTap(t, mq.URL(), mc.EventsTopic(), mc.ReplyTopic("+"))
	g.set(false)
	tp2.wait(t, mc.EventsTopic(), func(c captured) bool { return strings.Contains(string(c.payload), `"state":"verified"`) })
	// Every seq arrives (duplicates dropped), with no gap; guidance events
	// (state "capturing" with a guidance code) come as often as the
	// analysed frames change their code, so only the state changes are
	// compared.
	seen := map[uint64]mqttapi.EventMessage{}
	dups := 0
	for _, c := range append(tp.messages(), tp2.messages()...) {
		if c.topic != mc.EventsTopic() {
			continue
		}
		var ev mqttapi.EventMessage
		if json.Unmarshal(c.payload, &ev) != nil {
			t.Fatalf("event %s", c.payload)
		}
		mqtttest.Validate(t, mqtttest.SchemaEvent, c.payload)
		if _, ok := seen[ev.Seq]; ok {
			dups++
			continue
		}
		seen[ev.Seq] = ev
	}
	var states []string
	for seq := uint64(1); seq <= uint64(len(seen)); seq++ {
		ev, ok := seen[seq]
		if !ok {
			t.Fatalf("seq %d missing (all: %v)", seq, seen)
		}
		if ev.Guidance == "" {
			states = append(states, ev.State)
		}
	}
	if want := []string{"capturing", "uploading", "processing", "verified"}; !slices.Equal(states, want) {
		t.Fatalf("state changes after dedupe %v, want %v (all: %v)", states, want, seen)
	}
	t.Logf("%d duplicate events dropped by seq", dups)

	// A command after the restart is handled.
	if r := tp2.send(t, mc, "cancel", "after-restart", nil); r.OK || r.Error == nil || r.Error.Code != "no_session" {
		t.Errorf("cancel after the restart %+v", r)
	}
}

func TestConfigDiff(t *testing.T) {
	a := config.DefaultConfig()
	b := config.DefaultConfig()
	b.Session.Timeout = time.Minute
	b.Session.GatewayHosts = []string{"gw.example.com"}
	b.MQTT.Password = "changed secret"
	b.MQTT.CommandSecret = []byte("changed too")
	b.MQTT.HADiscovery = !a.MQTT.HADiscovery
	b.Inference.ModelsDir = "/elsewhere"
	got := config.ConfigDiff(a, b)
	want := []string{"inference.models_dir", "mqtt.ha_discovery", "session.gateway_hosts", "session.timeout"}
	if !slices.Equal(got, want) {
		t.Errorf("ConfigDiff = %v, want %v", got, want)
	}
	if d := config.ConfigDiff(a, a); len(d) != 0 {
		t.Errorf("no change gave %v", d)
	}
}

func TestStatusReason(t *testing.T) {
	for in, want := range map[string]string{"CAMERA_ABSENT": "camera_absent", "clock unsynced!": "clock_unsynced_", "": "unknown"} {
		if got := statusReason(in); got != want {
			t.Errorf("statusReason(%q) = %q, want %q", in, got, want)
		}
	}
}

// deadlineOf is a generous deadline for polling loops.
// waitMQTT waits until mc is connected, failing the test before its own
// deadline rather than hanging.
func waitMQTT(t *testing.T, mc *mqtt.Client) {
	t.Helper()
	deadline := deadlineOf(t)
	for !mc.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("MQTT client never connected")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func deadlineOf(t *testing.T) time.Time {
	if d, ok := t.Deadline(); ok {
		return d.Add(-5 * time.Second)
	}
	return time.Now().Add(20 * time.Second)
}

func TestDegradedReason(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(h *health.Registry)
		want string
	}{
		{"healthy", func(h *health.Registry) { h.Set("camera", true, "") }, ""},
		{"mqtt alone is not reported over mqtt", func(h *health.Registry) {
			h.Probe("mqtt", func() (bool, string) { return false, "mqtt" })
		}, ""},
		{"sorted, lower case, unique", func(h *health.Registry) {
			h.Set("led", false, ReasonLEDUnavailable)
			h.Set("camera", false, "CAMERA_ABSENT")
			h.Set("camera2", false, "CAMERA_ABSENT")
			h.Probe("mqtt", func() (bool, string) { return false, "mqtt" })
		}, "camera_absent,led_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Agent{health: health.NewRegistry()}
			tc.set(a.health)
			if got := a.degradedReason(); got != tc.want {
				t.Errorf("degradedReason = %q, want %q", got, tc.want)
			}
			if got := a.degradedReason(); got != "" {
				mqtttest.Validate(t, mqtttest.SchemaStatus, []byte(`{"v":1,"device_id":"k","state":"degraded","reason":"`+got+`"}`))
			}
		})
	}
}
