package mqtt

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/uplink"
	"github.com/faceverify/faceverify/uplink/mqtt/mqtttest"
)

// Environment of the child process of TestLastWillOnKill9.
const (
	childEnv       = "FACEVERIFY_MQTT_KILL_CHILD" // broker URL
	childPrefixEnv = "FACEVERIFY_MQTT_KILL_PREFIX"
)

func TestMain(m *testing.M) {
	if broker := os.Getenv(childEnv); broker != "" {
		os.Exit(runKillChild(broker, os.Getenv(childPrefixEnv)))
	}
	os.Exit(m.Run())
}

// runKillChild holds an MQTT client until it is killed.
func runKillChild(broker, prefix string) int {
	c, err := New(Options{Broker: broker, DeviceID: "kiosk-kill", Prefix: prefix, QoS: 1, KeepAlive: 60 * time.Second,
		MachineIDPath: "-", TelemetryInterval: -1, Logger: quietLogger()})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	go c.Run(context.Background())
	for !c.Connected() {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("connected")
	select {}
}

func TestLastWillOnKill9(t *testing.T) {
	broker := mqtttest.Broker(t)
	prefix := uniquePrefix(t)
	statusTopic := prefix + "/kiosk-kill/status"
	defer clearRetained(t, broker, statusTopic)
	w := watch(t, broker, statusTopic)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+broker, childPrefixEnv+"="+prefix)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "connected" {
		t.Fatalf("child said %q, %v", line, err)
	}
	var st mqttapi.Status
	if m := w.next(t); json.Unmarshal(m.Payload(), &st) != nil || st.State != mqttapi.StateOnline {
		t.Fatalf("status %s, want online", m.Payload())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	m := w.next(t)
	mqtttest.Validate(t, mqtttest.SchemaStatus, m.Payload())
	if json.Unmarshal(m.Payload(), &st) != nil || st.State != mqttapi.StateOffline || st.Reason != mqttapi.ReasonConnectionLost {
		t.Fatalf("after kill -9 status %s, want the offline will", m.Payload())
	}
	// A newcomer sees the will as the retained status.
	m = watch(t, broker, statusTopic).next(t)
	if json.Unmarshal(m.Payload(), &st) != nil || st.State != mqttapi.StateOffline || !m.Retained() {
		t.Errorf("retained status %s retained=%v, want offline", m.Payload(), m.Retained())
	}
}

// collectEvents reads n distinct events (dropping duplicate seqs) and
// returns them in arrival order with the number of duplicates.
func collectEvents(t *testing.T, w *watcher, n int) ([]mqttapi.EventMessage, int) {
	t.Helper()
	seen := map[uint64]bool{}
	var out []mqttapi.EventMessage
	dups := 0
	deadline := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case m := <-w.ch:
			mqtttest.Validate(t, mqtttest.SchemaEvent, m.Payload())
			ev := decodeEvent(t, m)
			if seen[ev.Seq] {
				dups++
				continue
			}
			seen[ev.Seq] = true
			out = append(out, ev)
		case <-deadline:
			t.Fatalf("%d of %d events arrived", len(out), n)
		}
	}
	return out, dups
}

// TestOutageOutboxAndResubscribe: 50 events emitted while the broker is
// down are kept on disk and arrive in order once it is back; the broker
// (without persistence) forgot every session, so a command sent after the
// restart is handled only because the client subscribes again.
func TestOutageOutboxAndResubscribe(t *testing.T) {
	mq := mqtttest.StartMosquitto(t, "persistence false")
	prefix := uniquePrefix(t)
	gate := &netGate{}
	state := t.TempDir()
	o := testOptions(mq.URL(), "kiosk-out", prefix)
	o.OpenConn, o.MaxReconnectInterval, o.StateDir, o.KeepAlive = gate.open, time.Second, state, 5*time.Second
	if os.Getenv("DEBUGT") != "" {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	cancels := make(chan mqttapi.Command, 1)
	c.HandleCommand(mqttapi.CmdCancel, func(_ context.Context, cmd mqttapi.Command) mqttapi.Reply {
		cancels <- cmd
		return mqttapi.ErrorReply("no_session", "no verification session is running")
	})
	runClient(t, c, true)

	w := watch(t, mq.URL(), c.EventsTopic())
	c.Publish(uplink.Event{SessionID: "s1", CorrelationID: "c1", State: "capturing", Attempt: 1})
	if evs, _ := collectEvents(t, w, 1); evs[0].Seq != 1 {
		t.Fatalf("first event %+v", evs[0])
	}
	// The subscriber can see the event before the kiosk has its PUBACK
	// and removed it from the outbox: wait for that, so the outbox holds
	// exactly the outage's events below.
	for deadline := time.Now().Add(10 * time.Second); c.Stats().OutboxDepth != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("outbox depth %d after the first event was delivered, want 0", c.Stats().OutboxDepth)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Outage: the broker stops; the kiosk keeps producing events.
	mq.Stop()
	gate.set(true) // hold the reconnect until a consumer is back
	for i := 0; i < 50; i++ {
		c.Publish(uplink.Event{SessionID: "s1", CorrelationID: "c1", State: "processing", Attempt: i + 1})
	}
	files, _ := filepath.Glob(filepath.Join(state, "kiosk-out", "outbox", "*.json"))
	if len(files) != 50 || c.Stats().OutboxDepth != 50 {
		t.Fatalf("%d outbox files, depth %d during the outage, want 50", len(files), c.Stats().OutboxDepth)
	}

	// The broker comes back empty; a consumer subscribes, then the kiosk
	// is let through.
	mq.Start()
	w2 := watch(t, mq.URL(), c.EventsTopic(), c.ReplyTopic(mqttapi.CmdCancel))
	gate.set(false)
	evs, dups := collectEvents(t, w2, 50)
	for i, ev := range evs {
		if ev.Seq != uint64(i+2) || ev.Attempt != i+1 {
			t.Fatalf("event %d has seq %d attempt %d, want seq %d attempt %d (in order)", i, ev.Seq, ev.Attempt, i+2, i+1)
		}
	}
	t.Logf("50 events after the outage, %d duplicates dropped by seq", dups)
	deadline := time.Now().Add(time.Minute)
	for c.Stats().OutboxDepth != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if files, _ := filepath.Glob(filepath.Join(state, "kiosk-out", "outbox", "*.json")); len(files) != 0 {
		t.Errorf("%d outbox files left after delivery", len(files))
	}

	// A command after the restart reaches the handler.
	waitConnected(t, c)
	p, _ := mqttapi.SignCommand(testSecret, c.CommandTopic(mqttapi.CmdCancel), "after-restart", time.Now(), nil)
	w2.publish(t, c.CommandTopic(mqttapi.CmdCancel), p)
	select {
	case cmd := <-cancels:
		if cmd.RequestID != "after-restart" {
			t.Errorf("handler got %+v", cmd)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("command after the broker restart not handled (not resubscribed?)")
	}
	if r := replyOf(t, w2.nextOn(t, c.ReplyTopic(mqttapi.CmdCancel))); r.OK || r.Error.Code != "no_session" || r.RequestID != "after-restart" {
		t.Errorf("reply %+v", r)
	}
}

func TestHADiscoveryBirthAndButtons(t *testing.T) {
	broker := mqtttest.Broker(t)
	prefix := uniquePrefix(t)
	ha := prefix + "-ha"
	o := testOptions(broker, "kiosk-ha", prefix)
	o.HADiscovery, o.HADiscoveryPrefix, o.Version = true, ha, "1.0.0"
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	identify := make(chan mqttapi.Command, 2)
	c.HandleCommand(mqttapi.CmdIdentify, func(_ context.Context, cmd mqttapi.Command) mqttapi.Reply {
		identify <- cmd
		return mqttapi.ResultReply(map[string]any{"effect": "logged", "duration_ms": 10000})
	})
	c.HandleCommand(mqttapi.CmdVerify, func(_ context.Context, cmd mqttapi.Command) mqttapi.Reply {
		t.Errorf("verify reached through Home Assistant: %+v", cmd)
		return mqttapi.ResultReply(nil)
	})
	disc := c.Discovery()
	var topics []string
	for _, d := range disc {
		topics = append(topics, d.Topic)
	}
	defer clearRetained(t, broker, append(topics, c.StatusTopic())...)
	w := watch(t, broker, ha+"/+/+/+/config")
	runClient(t, c, true)

	read := func(what string) map[string]map[string]any {
		t.Helper()
		got := map[string]map[string]any{}
		deadline := time.After(10 * time.Second)
		for len(got) < len(disc) {
			select {
			case m := <-w.ch:
				mqtttest.Validate(t, mqtttest.SchemaHADiscovery, m.Payload())
				mqtttest.AssertNoSecrets(t, m.Topic(), m.Payload(), string(testSecret))
				var cfg map[string]any
				json.Unmarshal(m.Payload(), &cfg)
				got[m.Topic()] = cfg
			case <-deadline:
				t.Fatalf("%s: %d of %d discovery configs", what, len(got), len(disc))
			}
		}
		return got
	}
	first := read("on connect")
	conn := first[ha+"/binary_sensor/faceverify_kiosk-ha/connectivity/config"]
	if conn == nil || conn["state_topic"] != c.StatusTopic() || conn["device_class"] != "connectivity" {
		t.Errorf("connectivity config %v", conn)
	}
	for _, obj := range []string{"state", "last_outcome", "spool_depth", "camera_fps"} {
		s := first[ha+"/sensor/faceverify_kiosk-ha/"+obj+"/config"]
		if s == nil || s["state_topic"] != c.TelemetryTopic() {
			t.Errorf("sensor %s config %v", obj, s)
		}
	}
	btn := first[ha+"/button/faceverify_kiosk-ha/identify/config"]
	if btn == nil || btn["command_topic"] != c.HATopic(mqttapi.CmdIdentify) {
		t.Errorf("identify button %v", btn)
	}

	// Home Assistant restarts and announces itself: discovery again.
	w.publish(t, ha+"/status", []byte("online"))
	read("after the birth message")
	// Any other payload on the birth topic does not.
	w.publish(t, ha+"/status", []byte("offline"))
	select {
	case m := <-w.ch:
		t.Errorf("discovery after an offline birth message: %s", m.Topic())
	case <-time.After(500 * time.Millisecond):
	}

	// Buttons: identify works unsigned on the HA topic; verify does not.
	rw := watch(t, broker, c.ReplyTopic(mqttapi.CmdIdentify))
	w.publish(t, c.HATopic(mqttapi.CmdVerify), []byte(mqttapi.HAPayloadPress))
	w.publish(t, c.HATopic(mqttapi.CmdIdentify), []byte("something else"))
	w.publish(t, c.HATopic(mqttapi.CmdIdentify), []byte(mqttapi.HAPayloadPress))
	select {
	case cmd := <-identify:
		if cmd.Source != mqttapi.SourceHA {
			t.Errorf("identify source %q", cmd.Source)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("identify button not handled")
	}
	if r := replyOf(t, rw.next(t)); !r.OK || r.Command != mqttapi.CmdIdentify {
		t.Errorf("identify reply %+v", r)
	}
	select {
	case cmd := <-identify:
		t.Errorf("second identify from a non-PRESS payload: %+v", cmd)
	case <-time.After(300 * time.Millisecond):
	}
	if s := c.Stats(); s.Refused != 2 {
		t.Errorf("refused %d, want 2 (verify over HA, bad payload)", s.Refused)
	}
}

func TestTelemetry(t *testing.T) {
	broker := mqtttest.Broker(t)
	prefix := uniquePrefix(t)
	o := testOptions(broker, "kiosk-tel", prefix)
	o.TelemetryInterval, o.Version = 200*time.Millisecond, "9.9.9"
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	fps := 9.5
	c.SetTelemetry(func(tm *mqttapi.Telemetry) {
		tm.Session, tm.LED = "idle", "idle"
		tm.Camera = &mqttapi.CameraTelemetry{FPS: &fps}
		tm.Spool = &mqttapi.SpoolTelemetry{Depth: 2}
		tm.DeviceID = "spoofed" // the Client owns the envelope
	})
	runClient(t, c, true)
	defer clearRetained(t, broker, c.StatusTopic(), c.TelemetryTopic())
	w := watch(t, broker, c.TelemetryTopic())
	for i := 0; i < 2; i++ {
		m := w.next(t)
		mqtttest.Validate(t, mqtttest.SchemaTelemetry, m.Payload())
		mqtttest.AssertNoSecrets(t, m.Topic(), m.Payload(), string(testSecret))
		var tm mqttapi.Telemetry
		json.Unmarshal(m.Payload(), &tm)
		if tm.V != 1 || tm.DeviceID != "kiosk-tel" || tm.Version != "9.9.9" || tm.Camera == nil || *tm.Camera.FPS != 9.5 ||
			tm.Spool == nil || tm.Spool.Depth != 2 || tm.MQTT == nil || tm.CPUTempC != nil {
			t.Errorf("telemetry %s", m.Payload())
		}
		if i == 0 && !m.Retained() {
			// The first message may be live or the retained one; both are fine.
			continue
		}
	}
}

func TestClientIDPerInstall(t *testing.T) {
	dir := t.TempDir()
	mid := filepath.Join(dir, "machine-id")
	os.WriteFile(mid, []byte("0123456789abcdef0123456789abcdef\n"), 0o644)
	a1, err := ClientID("kiosk-1", filepath.Join(dir, "a"), mid)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := ClientID("kiosk-1", filepath.Join(dir, "a"), mid)
	if a1 != a2 || !strings.HasPrefix(a1, "faceagent-kiosk-1-") || len(a1) != len("faceagent-kiosk-1-")+8 {
		t.Errorf("same install: %q and %q, want equal faceagent-kiosk-1-<8 hex>", a1, a2)
	}
	if b, _ := ClientID("kiosk-1", filepath.Join(dir, "b"), mid); b == a1 {
		t.Errorf("another install has the same id %q", b)
	}
	// A cloned state dir on a machine with its own machine id.
	clone := filepath.Join(dir, "clone")
	os.MkdirAll(clone, 0o700)
	id, _ := os.ReadFile(filepath.Join(dir, "a", installIDFile))
	os.WriteFile(filepath.Join(clone, installIDFile), id, 0o600)
	mid2 := filepath.Join(dir, "machine-id-2")
	os.WriteFile(mid2, []byte("fedcba9876543210fedcba9876543210\n"), 0o644)
	if c1, _ := ClientID("kiosk-1", clone, mid); c1 != a1 {
		t.Errorf("same install id and machine id gave %q, want %q", c1, a1)
	}
	if c2, _ := ClientID("kiosk-1", clone, mid2); c2 == a1 {
		t.Errorf("a clone with another machine id kept the id %q", c2)
	}
	if st, err := os.Stat(filepath.Join(dir, "a", installIDFile)); err != nil || st.Mode().Perm()&0o077 != 0 {
		t.Errorf("install id file: %v %v", st, err)
	}
}

func TestOutboxOnDisk(t *testing.T) {
	log := quietLogger()
	add := func(o *outbox, n int) {
		for i := 0; i < n; i++ {
			o.add(func(seq uint64, _ string) []byte { return []byte(fmt.Sprintf(`{"seq":%d}`, seq)) })
		}
	}
	seqs := func(o *outbox) []uint64 {
		var s []uint64
		for _, it := range o.q {
			s = append(s, it.seq)
		}
		return s
	}
	for _, tc := range []struct {
		name      string
		max       int
		run       func(t *testing.T, dir string) *outbox
		wantQueue []uint64
		wantNext  uint64
		wantGap   string // of the next event
	}{
		{"clean restart continues the sequence", 10, func(t *testing.T, dir string) *outbox {
			o, _ := openOutbox(dir, 10, log)
			add(o, 3)
			o.remove(1)
			o.close()
			o, _ = openOutbox(dir, 10, log)
			return o
		}, []uint64{2, 3}, 4, ""},
		{"unclean restart jumps", 10, func(t *testing.T, dir string) *outbox {
			o, _ := openOutbox(dir, 10, log)
			add(o, 3)
			o, _ = openOutbox(dir, 10, log)
			return o
		}, []uint64{1, 2, 3}, 3 + mqttapi.UncleanSeqJump + 1, mqttapi.GapRestart},
		{"unclean restart of an empty outbox has no jump", 10, func(t *testing.T, dir string) *outbox {
			openOutbox(dir, 10, log) // never closed, nothing queued
			o, _ := openOutbox(dir, 10, log)
			return o
		}, nil, 1, ""},
		{"full outbox drops the oldest", 4, func(t *testing.T, dir string) *outbox {
			o, _ := openOutbox(dir, 4, log)
			add(o, 7)
			if o.droppedTotal() != 3 {
				t.Errorf("dropped %d, want 3", o.droppedTotal())
			}
			o.close()
			o, _ = openOutbox(dir, 4, log)
			return o
		}, []uint64{4, 5, 6, 7}, 8, ""},
		{"corrupt and foreign files", 10, func(t *testing.T, dir string) *outbox {
			o, _ := openOutbox(dir, 10, log)
			add(o, 2)
			o.close()
			os.WriteFile(o.path(2), []byte(`{"cut sho`), 0o600)
			os.WriteFile(filepath.Join(dir, outboxDir, "notes.txt"), []byte("x"), 0o600)
			os.WriteFile(filepath.Join(dir, outboxDir, ".tmp-123"), []byte("x"), 0o600)
			o, _ = openOutbox(dir, 10, log)
			if _, err := os.Stat(filepath.Join(dir, outboxDir, ".tmp-123")); err == nil {
				t.Error("temporary file left")
			}
			return o
		}, []uint64{1}, 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := tc.run(t, dir)
			if got := seqs(o); !slices.Equal(got, tc.wantQueue) {
				t.Errorf("queue %v, want %v", got, tc.wantQueue)
			}
			var gap string
			next, _ := o.add(func(seq uint64, g string) []byte { gap = g; return []byte(`{}`) })
			if next != tc.wantNext || gap != tc.wantGap {
				t.Errorf("next seq %d gap %q, want %d %q", next, gap, tc.wantNext, tc.wantGap)
			}
			o.add(func(seq uint64, g string) []byte { gap = g; return []byte(`{}`) })
			if gap != "" {
				t.Errorf("second event after reopening has gap %q, want none", gap)
			}
			ents, _ := os.ReadDir(filepath.Join(dir, outboxDir))
			var names []string
			for _, e := range ents {
				if _, ok := parseOutboxName(e.Name()); ok {
					names = append(names, e.Name())
				}
			}
			sort.Strings(names)
			if want := min(len(tc.wantQueue)+2, tc.max); len(names) != want {
				t.Errorf("files %v, want %d", names, want)
			}
		})
	}
}

// BenchmarkEventLatency measures the time from an event's state change
// (Event.Time) to its arrival at a subscriber, one event at a time (the
// outbox on disk included): through the broker named by
// FACEVERIFY_TEST_MQTT (or an in-process one), and through a private
// mosquitto with set_tcp_nodelay (without it, Nagle's algorithm on the
// broker's side delays back-to-back small messages by up to the peer's
// delayed-ACK time, ~40 ms on Linux).
func BenchmarkEventLatency(b *testing.B) {
	b.Run("broker=test", func(b *testing.B) { benchLatency(b, mqtttest.Broker(b)) })
	b.Run("broker=mosquitto-nodelay", func(b *testing.B) {
		benchLatency(b, mqtttest.StartMosquitto(b, "persistence false").URL())
	})
}

// benchLatency measures on broker; see BenchmarkEventLatency.
func benchLatency(b *testing.B, broker string) {
	prefix := uniquePrefix(b)
	o := testOptions(broker, "kiosk-bench", prefix)
	o.StateDir = b.TempDir()
	c, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	runClient(b, c, true)
	defer clearRetained(b, broker, c.StatusTopic())
	got := make(chan time.Time, 1)
	wc := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("wb-" + prefix))
	if tok := wc.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer wc.Disconnect(100)
	wc.Subscribe(c.EventsTopic(), 1, func(_ paho.Client, m paho.Message) { got <- time.Now() }).WaitTimeout(5 * time.Second)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		c.Publish(uplink.Event{SessionID: "s", CorrelationID: "c", State: "capturing", Attempt: 1, Time: start})
		select {
		case at := <-got:
			lat = append(lat, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatal("event not delivered")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(q(0.5), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}
