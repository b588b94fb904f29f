package broker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/faceverify/faceverify/gateway/mqttapi"
)

// account is one test account: role and password.
type account struct {
	role     Role
	password string
}

// usersFile writes a users file for accts (hashed with MinHashIterations,
// the cheapest the file allows) and returns its path.
func usersFile(t testing.TB, accts map[string]account) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# test accounts\n\n")
	for name, a := range accts {
		h, err := HashPassword(a.password, MinHashIterations)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %s\n", name, a.role, h)
	}
	p := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var testAccounts = map[string]account{
	"kiosk-a":     {RoleKiosk, "kiosk-a-password"},
	"kiosk-b":     {RoleKiosk, "kiosk-b-password"},
	"kiosk.lobby": {RoleKiosk, "kiosk-lobby-password"},
	"fleet-op":    {RoleOperator, "operator-password"},
	"dash":        {RoleViewer, "viewer-password"},
	"ha":          {RoleHomeAssistant, "home-assistant-password"},
}

// startWithAccounts starts a broker on a loopback port with testAccounts.
func startWithAccounts(t *testing.T) *Broker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := Start(ctx, Config{Enabled: true, Listen: "127.0.0.1:0", UsersFile: usersFile(t, testAccounts)}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// login connects as name with its test password (client id name-suffix).
func login(t *testing.T, b *Broker, name, suffix string) paho.Client {
	t.Helper()
	c, err := connect(t, b.URL(), name+"-"+suffix, name, testAccounts[name].password)
	if err != nil {
		t.Fatalf("connect as %s: %v", name, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// inbox records what a client receives, by topic.
type inbox struct {
	mu  sync.Mutex
	got []string // "topic payload"
	ch  chan string
}

func newInbox() *inbox { return &inbox{ch: make(chan string, 64)} }

func (in *inbox) handler(_ paho.Client, m paho.Message) {
	s := m.Topic() + " " + string(m.Payload())
	in.mu.Lock()
	in.got = append(in.got, s)
	in.mu.Unlock()
	select {
	case in.ch <- s:
	default:
	}
}

// waitFor waits for "topic payload" and returns everything received so far.
func (in *inbox) waitFor(t *testing.T, want string) []string {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		in.mu.Lock()
		for _, g := range in.got {
			if g == want {
				all := append([]string(nil), in.got...)
				in.mu.Unlock()
				return all
			}
		}
		in.mu.Unlock()
		select {
		case <-in.ch:
		case <-deadline:
			t.Fatalf("%q never arrived; got %q", want, in.snapshot())
		}
	}
}

func (in *inbox) snapshot() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.got...)
}

// subscribe subscribes c to filter into in and returns the granted QoS
// (0x80 = refused).
func subscribe(t *testing.T, c paho.Client, filter string, in *inbox) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, in.handler)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

func publish(t *testing.T, c paho.Client, topic string, qos byte, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// settle gives a wrongly delivered message time to arrive after the
// barrier message that proves ordering.
func settle() { time.Sleep(150 * time.Millisecond) }

func without(got []string, topicPrefix string) error {
	for _, g := range got {
		if strings.HasPrefix(g, topicPrefix) {
			return fmt.Errorf("received %q", g)
		}
	}
	return nil
}

func TestLoginNeedsAccount(t *testing.T) {
	b := startWithAccounts(t)
	tests := []struct {
		name, user, pass string
		ok               bool
	}{
		{"anonymous", "", "", false},
		{"unknown user", "kiosk-z", "kiosk-a-password", false},
		{"wrong password", "kiosk-a", "kiosk-b-password", false},
		{"empty password", "kiosk-a", "", false},
		{"another account's password", "fleet-op", "kiosk-a-password", false},
		{"kiosk", "kiosk-a", "kiosk-a-password", true},
		{"operator", "fleet-op", "operator-password", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := connect(t, b.URL(), fmt.Sprintf("login-%d", i), tt.user, tt.pass)
			if err == nil {
				c.Disconnect(0)
			}
			if (err == nil) != tt.ok {
				t.Fatalf("connect(%q, %q) error = %v, want ok=%v", tt.user, tt.pass, err, tt.ok)
			}
		})
	}
}

// TestKioskCannotReadAnotherKiosksCommands: kiosk-a's subscriptions to
// kiosk-b's command topic, by name or by wildcard, deliver nothing (mochi
// refuses the subscription), while kiosk-b gets its command and kiosk-a
// its own.
func TestKioskCannotReadAnotherKiosksCommands(t *testing.T) {
	b := startWithAccounts(t)
	a, kb, op := login(t, b, "kiosk-a", "1"), login(t, b, "kiosk-b", "1"), login(t, b, "fleet-op", "1")
	inA, inB := newInbox(), newInbox()
	for _, f := range []string{"faceverify/kiosk-b/cmd/verify", "faceverify/+/cmd/verify", "faceverify/#", "#"} {
		if q := subscribe(t, a, f, inA); q != 0x80 {
			t.Errorf("kiosk-a subscribing %s: granted QoS %d, want refused (0x80)", f, q)
		}
	}
	if q := subscribe(t, a, "faceverify/kiosk-a/cmd/#", inA); q == 0x80 {
		t.Fatal("kiosk-a refused its own faceverify/kiosk-a/cmd/#")
	}
	subscribe(t, kb, "faceverify/kiosk-b/cmd/+", inB)

	publish(t, op, "faceverify/kiosk-b/cmd/verify", 1, "token-for-b")
	publish(t, op, "faceverify/kiosk-a/cmd/verify", 1, "token-for-a")
	inB.waitFor(t, "faceverify/kiosk-b/cmd/verify token-for-b")
	inA.waitFor(t, "faceverify/kiosk-a/cmd/verify token-for-a")
	settle()
	if err := without(inA.snapshot(), "faceverify/kiosk-b/"); err != nil {
		t.Errorf("kiosk-a got kiosk-b's command: %v", err)
	}
}

// TestKioskCannotSpeakForAnotherKiosk: kiosk-a's status, events and
// discovery under kiosk-b's (or kiosk.lobby's) topics are dropped; its own
// arrive. A refused QoS 1 publish costs the kiosk its connection (mochi-mqtt
// answers MQTT 3.1.1 that way).
func TestKioskCannotSpeakForAnotherKiosk(t *testing.T) {
	b := startWithAccounts(t)
	a, view, ha := login(t, b, "kiosk-a", "1"), login(t, b, "dash", "1"), login(t, b, "ha", "1")
	inView, inHA := newInbox(), newInbox()
	subscribe(t, view, "faceverify/+/status", inView)
	subscribe(t, view, "faceverify/+/events", inView)
	subscribe(t, ha, "homeassistant/#", inHA)

	for _, topic := range []string{
		"faceverify/kiosk-b/status", "faceverify/kiosk-b/events", "faceverify/kiosk-b/cmd/verify/reply",
		"homeassistant/sensor/faceverify_kiosk-b/state/config", "homeassistant/sensor/faceverify_kiosk_lobby/state/config",
		"faceverify/kiosk-a/cmd/verify", // its own command topic: kiosks only read it
	} {
		publish(t, a, topic, 0, "fake")
	}
	publish(t, a, "faceverify/kiosk-a/status", 1, "online")
	publish(t, a, "homeassistant/sensor/faceverify_kiosk-a/state/config", 1, "{}")
	inView.waitFor(t, "faceverify/kiosk-a/status online")
	inHA.waitFor(t, "homeassistant/sensor/faceverify_kiosk-a/state/config {}")
	settle()
	for _, in := range []*inbox{inView, inHA} {
		for _, g := range in.snapshot() {
			if strings.HasSuffix(g, " fake") {
				t.Errorf("a kiosk's publish outside its topics arrived: %q", g)
			}
		}
	}

	// A dotted device id publishes discovery under faceverify_kiosk_lobby.
	lobby := login(t, b, "kiosk.lobby", "1")
	publish(t, lobby, "homeassistant/button/faceverify_kiosk_lobby/identify/config", 1, "{}")
	inHA.waitFor(t, "homeassistant/button/faceverify_kiosk_lobby/identify/config {}")

	// QoS 1 outside its topics: the broker closes the connection.
	lost := make(chan struct{})
	o := paho.NewClientOptions().AddBroker(b.URL()).SetClientID("kiosk-a-qos1").SetUsername("kiosk-a").
		SetPassword(testAccounts["kiosk-a"].password).SetAutoReconnect(false).
		SetConnectionLostHandler(func(paho.Client, error) { close(lost) })
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(0)
	c.Publish("faceverify/kiosk-b/status", 1, true, "fake")
	select {
	case <-lost:
	case <-time.After(time.Minute):
		t.Error("a refused QoS 1 publish left the connection open")
	}
	settle()
	if err := without(inView.snapshot(), "faceverify/kiosk-b/"); err != nil {
		t.Error(err)
	}
}

// TestOperatorCommandsViewerReads: the operator's command reaches the
// kiosk and the kiosk's reply reaches the operator; the viewer's and Home
// Assistant's commands do not arrive; the viewer reads status; neither the
// operator nor the viewer can read commands (they carry user tokens).
func TestOperatorCommandsViewerReads(t *testing.T) {
	b := startWithAccounts(t)
	kb, op, view, ha := login(t, b, "kiosk-b", "1"), login(t, b, "fleet-op", "1"), login(t, b, "dash", "1"), login(t, b, "ha", "1")
	spy := login(t, b, "fleet-op", "spy")
	inB, inOp, inView, inSpy := newInbox(), newInbox(), newInbox(), newInbox()
	subscribe(t, kb, "faceverify/kiosk-b/cmd/+", inB)
	subscribe(t, kb, "faceverify/kiosk-b/ha/+", inB)
	subscribe(t, op, "faceverify/+/cmd/+/reply", inOp)
	subscribe(t, op, "faceverify/+/status", inOp)
	subscribe(t, view, "faceverify/+/status", inView)
	subscribe(t, view, "faceverify/+/cmd/+/reply", inView) // refused: replies are the operator's
	for _, c := range []paho.Client{spy, view} {
		for _, f := range []string{"faceverify/+/cmd/+", "faceverify/kiosk-b/cmd/verify"} {
			if q := subscribe(t, c, f, inSpy); q != 0x80 {
				t.Errorf("subscribing %s granted QoS %d, want refused", f, q)
			}
		}
	}

	publish(t, view, "faceverify/kiosk-b/cmd/verify", 0, "from-viewer")
	publish(t, ha, "faceverify/kiosk-b/cmd/verify", 0, "from-ha")
	publish(t, view, "faceverify/kiosk-b/ha/identify", 0, "from-viewer")
	publish(t, ha, "faceverify/kiosk-b/ha/identify", 1, "PRESS")
	publish(t, op, "faceverify/kiosk-b/cmd/verify", 1, "from-operator")
	inB.waitFor(t, "faceverify/kiosk-b/ha/identify PRESS")
	got := inB.waitFor(t, "faceverify/kiosk-b/cmd/verify from-operator")
	settle()
	for _, g := range append(got, inB.snapshot()...) {
		if strings.Contains(g, "from-viewer") || strings.Contains(g, "from-ha") {
			t.Errorf("kiosk-b got %q", g)
		}
	}
	publish(t, kb, "faceverify/kiosk-b/cmd/verify/reply", 1, "ok")
	publish(t, kb, "faceverify/kiosk-b/status", 1, "online")
	inOp.waitFor(t, "faceverify/kiosk-b/cmd/verify/reply ok")
	inOp.waitFor(t, "faceverify/kiosk-b/status online")
	inView.waitFor(t, "faceverify/kiosk-b/status online")
	settle()
	if err := without(inView.snapshot(), "faceverify/kiosk-b/cmd/"); err != nil {
		t.Errorf("viewer: %v", err)
	}
	if got := inSpy.snapshot(); len(got) > 0 {
		t.Errorf("refused command subscriptions delivered %q", got)
	}
}

// TestRules checks each role's rules through the hook's ACL check, with
// both topic names (publish, delivery) and subscription filters.
func TestRules(t *testing.T) {
	accts, err := LoadUsers(usersFile(t, testAccounts))
	if err != nil {
		t.Fatal(err)
	}
	h, err := newAccountsHook(accts, "fv", "ha", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	const R, W = false, true
	checks := []struct {
		user, topic string
		write, ok   bool
	}{
		{"kiosk-a", "fv/kiosk-a/status", W, true},
		{"kiosk-a", "fv/kiosk-a/events", W, true},
		{"kiosk-a", "fv/kiosk-a/telemetry", W, true},
		{"kiosk-a", "fv/kiosk-a/cmd/verify/reply", W, true},
		{"kiosk-a", "fv/kiosk-a/cmd/verify", R, true},
		{"kiosk-a", "fv/kiosk-a/cmd/verify", W, false},
		{"kiosk-a", "fv/kiosk-a/cmd/+", R, true},
		{"kiosk-a", "fv/kiosk-a/cmd/#", R, true},
		{"kiosk-a", "fv/kiosk-a/ha/identify", R, true},
		{"kiosk-a", "fv/kiosk-a/ha/identify", W, false},
		{"kiosk-a", "fv/kiosk-a/status", R, false},
		{"kiosk-a", "fv/kiosk-a/status/extra", W, false},
		{"kiosk-a", "fv/kiosk-a", W, false},
		{"kiosk-a", "fv/kiosk-a/#", R, false},
		{"kiosk-a", "fv/kiosk-b/status", W, false},
		{"kiosk-a", "fv/kiosk-b/cmd/verify", R, false},
		{"kiosk-a", "fv/+/cmd/verify", R, false},
		{"kiosk-a", "fv/#", R, false},
		{"kiosk-a", "#", R, false},
		{"kiosk-a", "+/kiosk-a/cmd/verify", R, false},
		{"kiosk-a", "$SYS/broker/clients", R, false},
		{"kiosk-a", "$share/g/fv/kiosk-a/cmd/verify", R, false},
		{"kiosk-a", "ha/status", R, true},
		{"kiosk-a", "ha/status", W, false},
		{"kiosk-a", "ha/sensor/faceverify_kiosk-a/state/config", W, true},
		{"kiosk-a", "ha/sensor/faceverify_kiosk-b/state/config", W, false},
		{"kiosk-a", "ha/sensor/faceverify_kiosk-a/state/config", R, false},
		{"kiosk.lobby", "ha/sensor/faceverify_kiosk_lobby/state/config", W, true},
		{"kiosk.lobby", "ha/sensor/faceverify_kiosk.lobby/state/config", W, false},
		{"kiosk.lobby", "fv/kiosk.lobby/status", W, true},
		{"fleet-op", "fv/kiosk-a/status", R, true},
		{"fleet-op", "fv/+/status", R, true},
		{"fleet-op", "fv/+/events", R, true},
		{"fleet-op", "fv/+/telemetry", R, true},
		{"fleet-op", "fv/+/cmd/+/reply", R, true},
		{"fleet-op", "fv/kiosk-a/cmd/verify", W, true},
		{"fleet-op", "fv/kiosk-a/cmd/verify/reply", W, false},
		{"fleet-op", "fv/kiosk-a/cmd/verify", R, false},
		{"fleet-op", "fv/+/cmd/#", R, false},
		{"fleet-op", "fv/kiosk-a/ha/identify", W, true},
		{"fleet-op", "fv/kiosk-a/status", W, false},
		{"fleet-op", "fv/#", R, false},
		{"fleet-op", "fv/+/#", R, false},
		{"dash", "fv/+/status", R, true},
		{"dash", "fv/kiosk-a/events", R, true},
		{"dash", "fv/kiosk-a/cmd/verify", W, false},
		{"dash", "fv/kiosk-a/cmd/verify/reply", R, false},
		{"dash", "fv/kiosk-a/status", W, false},
		{"dash", "fv/kiosk-a/ha/identify", W, false},
		{"ha", "ha/status", W, true},
		{"ha", "ha/#", R, true},
		{"ha", "fv/kiosk-a/ha/identify", W, true},
		{"ha", "fv/kiosk-a/ha/self-test", W, true},
		{"ha", "fv/kiosk-a/ha/reload-config", W, false},
		{"ha", "fv/kiosk-a/cmd/identify", W, false},
		{"ha", "fv/kiosk-a/telemetry", R, true},
		{"nobody", "fv/kiosk-a/status", R, false},
		{"", "fv/kiosk-a/status", W, false},
	}
	for _, c := range checks {
		cl := &mqtt.Client{}
		cl.Properties.Username = []byte(c.user)
		if ok := h.OnACLCheck(cl, c.topic, c.write); ok != c.ok {
			t.Errorf("%q write=%v %s: ok=%v, want %v", c.user, c.write, c.topic, ok, c.ok)
		}
	}
	for _, r := range Roles {
		rules := Rules(r, "kiosk-a", "fv", "ha")
		if len(rules) == 0 {
			t.Errorf("role %s: no rules", r)
		}
		for _, rule := range rules {
			if !mqtt.IsValidFilter(rule.Filter, false) || rule.Access == 0 {
				t.Errorf("role %s: rule %+v", r, rule)
			}
		}
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		rule, filter string
		want         bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false}, // mochi-mqtt v2.7 auth.MatchTopic says true
		{"a/+", "a/+", true},
		{"a/+", "a/#", false},
		{"a/b", "a/+", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "a/#", true},
		{"a/#", "a/+/c", true},
		{"a/#", "+/b", false},
		{"a/+/c", "a/+/c", true},
		{"a/+/c", "a/+/#", false},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/x", "$SYS/x", true},
		{"#", "a/b", true},
		{"a//b", "a//b", true},
		{"a/+/b", "a//b", true},
	}
	for _, tt := range tests {
		if got := mqttapi.Covers(tt.rule, tt.filter); got != tt.want {
			t.Errorf("mqttapi.Covers(%q, %q) = %v, want %v", tt.rule, tt.filter, got, tt.want)
		}
	}
}

// matches is a plain reference matcher of a topic name against a filter.
func matches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f, tp := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i := range f {
		if f[i] == "#" {
			return true
		}
		if i >= len(tp) || (f[i] != "+" && f[i] != tp[i]) {
			return false
		}
	}
	return len(f) == len(tp)
}

// FuzzCovers: for a topic name covers agrees with the reference matcher;
// when a rule covers a filter, every topic the filter matches, the rule
// matches too.
func FuzzCovers(f *testing.F) {
	f.Add("a/+/c", "a/+/c", "a/b/c")
	f.Add("a/#", "a/b/#", "a/b")
	f.Add("fv/+/cmd/+", "fv/k/cmd/+", "fv/k/cmd/verify/reply")
	f.Add("#", "+/x", "$SYS/x")
	f.Fuzz(func(t *testing.T, rule, filter, topic string) {
		if !mqtt.IsValidFilter(rule, false) || !mqtt.IsValidFilter(filter, false) || !mqtt.IsValidFilter(topic, true) {
			return
		}
		if got, want := mqttapi.Covers(rule, topic), matches(rule, topic); got != want {
			t.Fatalf("mqttapi.Covers(%q, topic %q) = %v, reference says %v", rule, topic, got, want)
		}
		if mqttapi.Covers(rule, filter) && matches(filter, topic) && !matches(rule, topic) {
			t.Fatalf("rule %q covers filter %q, which matches %q, but the rule does not", rule, filter, topic)
		}
	})
}

func TestAnonymousOnLoopbackWithoutUsersFile(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := Start(ctx, Config{Enabled: true, Listen: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := connect(t, b.URL(), "anon", "", "")
	if err != nil {
		t.Fatalf("anonymous connect: %v", err)
	}
	defer c.Disconnect(0)
	in := newInbox()
	if q := subscribe(t, c, "faceverify/+/cmd/verify", in); q == 0x80 {
		t.Fatal("anonymous broker refused a subscription")
	}
	publish(t, c, "faceverify/kiosk-b/cmd/verify", 1, "x")
	in.waitFor(t, "faceverify/kiosk-b/cmd/verify x")
}

func TestStartRefusesBadUsersFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("kiosk-a kiosk plaintext\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"missing": filepath.Join(dir, "none"), "plaintext": bad} {
		t.Run(name, func(t *testing.T) {
			b, err := Start(context.Background(), Config{Enabled: true, Listen: "127.0.0.1:0", UsersFile: path}, nil)
			if err == nil {
				b.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.HasPrefix(err.Error(), "broker.users_file:") {
				t.Fatalf("error %q does not name broker.users_file", err)
			}
		})
	}
}

// TestLastWillNeedsWriteAccess: a Last Will is published later on the
// client's behalf without an ACL check, so a connect whose Will topic the
// account may not publish to is refused; a kiosk's own status Will is fine.
func TestLastWillNeedsWriteAccess(t *testing.T) {
	b := startWithAccounts(t)
	tests := []struct {
		user, topic string
		ok          bool
	}{
		{"kiosk-a", "faceverify/kiosk-a/status", true},
		{"kiosk-a", "faceverify/kiosk-b/status", false},
		{"dash", "faceverify/kiosk-a/status", false},
		{"dash", "faceverify/kiosk-a/ha/identify", false},
		{"fleet-op", "faceverify/kiosk-a/status", false},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.topic, func(t *testing.T) {
			o := paho.NewClientOptions().AddBroker(b.URL()).SetClientID(tt.user+"-will").
				SetUsername(tt.user).SetPassword(testAccounts[tt.user].password).
				SetConnectTimeout(3*time.Second).SetAutoReconnect(false).
				SetWill(tt.topic, `{"state":"online","reason":"forged"}`, 1, true)
			c := paho.NewClient(o)
			tok := c.Connect()
			if !tok.WaitTimeout(time.Minute) {
				t.Fatal("connect timed out")
			}
			if got := tok.Error() == nil; got != tt.ok {
				t.Fatalf("connect with Will on %s as %s: err=%v, want ok=%v", tt.topic, tt.user, tok.Error(), tt.ok)
			}
			if tok.Error() == nil {
				c.Disconnect(0)
			}
		})
	}
}

// TestBrokerLogsCarryNoPayload: a refused publish of a command (which
// carries a user token) leaves no trace of its payload in the broker's log.
func TestBrokerLogsCarryNoPayload(t *testing.T) {
	var buf safeBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := Start(ctx, Config{Enabled: true, Listen: "127.0.0.1:0", UsersFile: usersFile(t, testAccounts)}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	view := login(t, b, "dash", "1")
	const secret = "ut_SECRETTOKEN123"
	view.Publish("faceverify/kiosk-a/cmd/verify", 1, false, `{"v":1,"body":{"token":"`+secret+`"}}`)
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(buf.String(), "broker refused topic") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	out := buf.String()
	if !strings.Contains(out, "broker refused topic") || !strings.Contains(out, "user=dash") {
		t.Fatalf("refusal not logged with its account:\n%s", out)
	}
	// The payload, as text or as the byte list a packet dump prints.
	bytesList := fmt.Sprint([]byte(secret)[:6])
	if strings.Contains(out, secret) || strings.Contains(out, strings.Trim(bytesList, "[]")) {
		t.Fatalf("the broker log carries the command payload:\n%s", out)
	}
}

// safeBuffer is a bytes.Buffer safe for concurrent writers.
type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
