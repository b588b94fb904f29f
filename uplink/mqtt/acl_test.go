package mqtt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/uplink"
	"github.com/faceverify/faceverify/uplink/mqtt/mqtttest"
)

// aclDocPath is docs/mosquitto-acl.conf, the ACL the docs tell a site to
// install; the tests load it as it is.
func aclDocPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "docs", "mosquitto-acl.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the documented ACL: %v", err)
	}
	return p
}

// aclObserver is a test-only account appended to the documented ACL: it
// reads and writes everything, to see what the others' messages did and
// to publish probes and markers.
const aclObserver = "acl-test-observer"

// aclBroker starts a private mosquitto with password authentication and
// the documented ACL (plus the observer account). Every account's
// password is "pw-" + its name. It returns the broker URL and a login
// function.
func aclBroker(t *testing.T, users ...string) (string, func(user string) account) {
	t.Helper()
	acl, err := os.ReadFile(aclDocPath(t))
	if err != nil {
		t.Fatal(err)
	}
	aclFile := filepath.Join(t.TempDir(), "faceverify.acl")
	extra := "\n# test only: sees and may publish everything\nuser " + aclObserver + "\ntopic readwrite #\n"
	if err := os.WriteFile(aclFile, append(acl, extra...), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := map[string]string{aclObserver: "pw-" + aclObserver}
	for _, u := range users {
		pw[u] = "pw-" + u
	}
	m := mqtttest.StartMosquitto(t, "allow_anonymous false\npassword_file "+mqtttest.PasswordFile(t, pw)+"\nacl_file "+aclFile+"\n")
	return m.URL(), func(user string) account { return account{user: user, pass: "pw-" + user} }
}

// TestMosquittoACLRules checks each rule of docs/mosquitto-acl.conf on a
// real mosquitto with password logins: what each account may publish and
// what it may read, including what it must not. A refused publish is
// still acknowledged (MQTT 3.1.1 has no negative PUBACK) and dropped; a
// subscription outside the ACL is granted but nothing is delivered on it:
// so each case looks at what actually arrives, up to a marker published
// after the probe.
func TestMosquittoACLRules(t *testing.T) {
	const (
		kA, kB   = "kiosk-a", "kiosk-b"
		operator = "fleet-operator"
		viewer   = "fleet-viewer"
		ha       = "homeassistant"
	)
	broker, login := aclBroker(t, kA, kB, operator, viewer, ha)
	obs := watchAs(t, broker, login(aclObserver), "#")
	clients := map[string]*watcher{}
	for _, u := range []string{kA, kB, operator, viewer, ha} {
		clients[u] = watchAs(t, broker, login(u))
	}

	t.Run("login", func(t *testing.T) {
		for _, a := range []account{{}, {user: kA, pass: "wrong"}, {user: "kiosk-unknown", pass: "pw-kiosk-unknown"}} {
			if w, err := dialAs(t, broker, a); err == nil {
				w.c.Disconnect(0)
				t.Errorf("login %q with password %q accepted", a.user, a.pass)
			}
		}
	})

	p := mqttapi.DefaultPrefix
	writes := []struct {
		name, user, topic string
		allowed           bool
	}{
		{"kiosk own status", kA, p + "/kiosk-a/status", true},
		{"kiosk own events", kA, p + "/kiosk-a/events", true},
		{"kiosk own telemetry", kA, p + "/kiosk-a/telemetry", true},
		{"kiosk own command reply", kA, p + "/kiosk-a/cmd/verify/reply", true},
		{"kiosk own discovery", kA, "homeassistant/button/faceverify_kiosk-a/identify/config", true},
		{"kiosk another kiosk's status", kA, p + "/kiosk-b/status", false},
		{"kiosk another kiosk's events", kA, p + "/kiosk-b/events", false},
		{"kiosk another kiosk's reply", kA, p + "/kiosk-b/cmd/verify/reply", false},
		{"kiosk another kiosk's discovery", kA, "homeassistant/button/faceverify_kiosk-b/identify/config", false},
		{"kiosk outside its topics", kA, p + "/kiosk-a/other", false},
		{"kiosk own commands", kA, p + "/kiosk-a/cmd/verify", false},
		{"kiosk own buttons", kA, p + "/kiosk-a/ha/identify", false},
		{"kiosk commands another kiosk", kB, p + "/kiosk-a/cmd/verify", false},
		{"kiosk presses another kiosk's button", kB, p + "/kiosk-a/ha/identify", false},
		{"operator command", operator, p + "/kiosk-a/cmd/verify", true},
		{"operator forges status", operator, p + "/kiosk-a/status", false},
		{"operator forges reply", operator, p + "/kiosk-a/cmd/verify/reply", false},
		{"viewer command", viewer, p + "/kiosk-a/cmd/identify", false},
		{"viewer forges status", viewer, p + "/kiosk-a/status", false},
		{"home assistant identify button", ha, p + "/kiosk-a/ha/identify", true},
		{"home assistant self-test button", ha, p + "/kiosk-a/ha/self-test", true},
		{"home assistant birth", ha, "homeassistant/status", true},
		{"home assistant other button", ha, p + "/kiosk-a/ha/reload-config", false},
		{"home assistant command", ha, p + "/kiosk-a/cmd/identify", false},
		{"home assistant forges status", ha, p + "/kiosk-a/status", false},
	}
	for _, tc := range writes {
		t.Run("write/"+tc.name, func(t *testing.T) {
			c := clients[tc.user]
			probe := []byte("probe-" + randID())
			c.publish(t, tc.topic, probe)
			got := saw(obs.until(t, obs, "acl-test/marker"), tc.topic, probe)
			if got != tc.allowed {
				t.Errorf("%s publishing %s: delivered=%v, want %v", tc.user, tc.topic, got, tc.allowed)
			}
			if !c.c.IsConnectionOpen() {
				t.Fatalf("the broker dropped %s", tc.user)
			}
		})
	}

	reads := []struct {
		name, user, filter, topic string
		marker                    string // a topic the user may read
		allowed                   bool
	}{
		{"kiosk own commands", kA, p + "/kiosk-a/cmd/+", p + "/kiosk-a/cmd/verify", p + "/kiosk-a/cmd/marker", true},
		{"kiosk own buttons", kA, p + "/kiosk-a/ha/+", p + "/kiosk-a/ha/identify", p + "/kiosk-a/cmd/marker", true},
		{"kiosk home assistant birth", kA, "homeassistant/status", "homeassistant/status", p + "/kiosk-a/cmd/marker", true},
		{"kiosk another kiosk's commands", kA, p + "/kiosk-b/cmd/+", p + "/kiosk-b/cmd/verify", p + "/kiosk-a/cmd/marker", false},
		{"kiosk every command", kA, p + "/+/cmd/+", p + "/kiosk-b/cmd/verify", p + "/kiosk-a/cmd/marker", false},
		{"kiosk another kiosk's status", kA, p + "/+/status", p + "/kiosk-b/status", p + "/kiosk-a/cmd/marker", false},
		{"kiosk own command replies", kA, p + "/kiosk-a/cmd/+/reply", p + "/kiosk-a/cmd/verify/reply", p + "/kiosk-a/cmd/marker", false},
		{"operator status", operator, p + "/+/status", p + "/kiosk-a/status", p + "/marker/status", true},
		{"operator events", operator, p + "/+/events", p + "/kiosk-a/events", p + "/marker/status", true},
		{"operator telemetry", operator, p + "/+/telemetry", p + "/kiosk-a/telemetry", p + "/marker/status", true},
		{"operator replies", operator, p + "/+/cmd/+/reply", p + "/kiosk-a/cmd/verify/reply", p + "/marker/status", true},
		{"operator commands (tokens)", operator, p + "/+/cmd/+", p + "/kiosk-a/cmd/verify", p + "/marker/status", false},
		{"viewer status", viewer, p + "/+/status", p + "/kiosk-a/status", p + "/marker/status", true},
		{"viewer replies", viewer, p + "/+/cmd/+/reply", p + "/kiosk-a/cmd/verify/reply", p + "/marker/status", false},
		{"viewer commands (tokens)", viewer, p + "/+/cmd/+", p + "/kiosk-a/cmd/verify", p + "/marker/status", false},
		{"home assistant discovery", ha, "homeassistant/#", "homeassistant/sensor/faceverify_kiosk-a/state/config", p + "/marker/status", true},
		{"home assistant telemetry", ha, p + "/+/telemetry", p + "/kiosk-a/telemetry", p + "/marker/status", true},
		{"home assistant commands (tokens)", ha, p + "/+/cmd/+", p + "/kiosk-a/cmd/verify", p + "/marker/status", false},
	}
	for _, tc := range reads {
		t.Run("read/"+tc.name, func(t *testing.T) {
			c := watchAs(t, broker, login(tc.user), tc.marker) // fresh: no earlier subscriptions
			if q := c.subscribe(t, tc.filter); q == 0x80 {
				t.Errorf("subscription %s refused (SUBACK 0x80); docs/mqtt.md says mosquitto grants it and filters delivery", tc.filter)
			}
			probe := []byte("probe-" + randID())
			obs.publish(t, tc.topic, probe)
			got := saw(c.until(t, obs, tc.marker), tc.topic, probe)
			if got != tc.allowed {
				t.Errorf("%s subscribed to %s: got %s=%v, want %v", tc.user, tc.filter, tc.topic, got, tc.allowed)
			}
		})
	}
}

// TestMosquittoACLWithAgent runs the agent's client under the documented
// ACL with password logins: its retained status, events and Home
// Assistant discovery pass, the fleet operator's signed command is run and
// answered, and a command another kiosk publishes — validly signed, so
// that only the ACL stops it — never reaches it. It also pins two ways a
// kiosk falls outside the ACL's %u rules: a user name other than the
// device id, and a device id with '.' for discovery.
func TestMosquittoACLWithAgent(t *testing.T) {
	broker, login := aclBroker(t, "kiosk-a", "kiosk-b", "kiosk.lobby", "fleet-operator", "homeassistant")
	obs := watchAs(t, broker, login(aclObserver))
	haw := watchAs(t, broker, login("homeassistant"), "homeassistant/+/+/+/config")

	agentOpts := func(device, user string) Options {
		o := testOptions(broker, device, mqttapi.DefaultPrefix)
		a := login(user)
		o.Username, o.Password, o.HADiscovery, o.StateDir = a.user, a.pass, true, t.TempDir()
		return o
	}
	c, err := New(agentOpts("kiosk-a", "kiosk-a"))
	if err != nil {
		t.Fatal(err)
	}
	handled := make(chan mqttapi.Command, 4)
	c.HandleCommand(mqttapi.CmdIdentify, func(_ context.Context, cmd mqttapi.Command) mqttapi.Reply {
		handled <- cmd
		return mqttapi.ResultReply(map[string]any{"effect": "logged", "duration_ms": 1000})
	})
	runClient(t, c, true)

	// Subscribed after the kiosk announced itself: the status comes retained.
	operator := watchAs(t, broker, login("fleet-operator"), fleetFilters(mqttapi.DefaultPrefix)...)
	st := operator.nextOn(t, c.StatusTopic())
	if s := statusOf(t, st.Payload()); !st.Retained() || s.State != mqttapi.StateOnline {
		t.Fatalf("status under the ACL: retained=%v %+v", st.Retained(), s)
	}
	disc := c.Discovery()
	got := map[string]bool{}
	for len(got) < len(disc) {
		m := haw.next(t)
		mqtttest.Validate(t, mqtttest.SchemaHADiscovery, m.Payload())
		got[m.Topic()] = true
	}
	for _, d := range disc {
		if !got[d.Topic] {
			t.Errorf("discovery %s did not reach Home Assistant", d.Topic)
		}
	}
	c.Publish(uplink.Event{SessionID: "s-acl", State: "capturing", Attempt: 1})
	if ev := decodeEvent(t, operator.nextOn(t, c.EventsTopic())); ev.State != "capturing" || ev.Seq != 1 {
		t.Fatalf("event under the ACL: %+v", ev)
	}

	// Another kiosk's account publishes a correctly signed command; then
	// the operator does. Only the operator's is run and answered.
	topic := c.CommandTopic(mqttapi.CmdIdentify)
	forged, err := mqttapi.SignCommand(testSecret, topic, "r-from-kiosk-b", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	watchAs(t, broker, login("kiosk-b")).publish(t, topic, forged)
	legit, err := mqttapi.SignCommand(testSecret, topic, "r-operator", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	operator.publish(t, topic, legit)
	if r := replyOf(t, operator.nextOn(t, c.ReplyTopic(mqttapi.CmdIdentify))); !r.OK || r.RequestID != "r-operator" {
		t.Fatalf("first reply %+v, want the operator's r-operator", r)
	}
	if cmd := <-handled; cmd.RequestID != "r-operator" {
		t.Fatalf("handler ran %q", cmd.RequestID)
	}
	// Home Assistant's unsigned button is allowed on ha/identify.
	haClient := watchAs(t, broker, login("homeassistant"))
	haClient.publish(t, c.HATopic(mqttapi.CmdIdentify), []byte(mqttapi.HAPayloadPress))
	if r := replyOf(t, operator.nextOn(t, c.ReplyTopic(mqttapi.CmdIdentify))); !r.OK {
		t.Fatalf("reply to the Home Assistant button %+v", r)
	}
	if cmd := <-handled; cmd.Source != mqttapi.SourceHA {
		t.Fatalf("second command %+v, want the Home Assistant button", cmd)
	}
	select {
	case cmd := <-handled:
		t.Fatalf("an extra command ran: %+v", cmd)
	default:
	}
	if s := c.Stats(); s.Commands != 2 || s.Refused != 0 {
		t.Fatalf("stats %+v: want 2 commands (operator, button), none refused (kiosk-b's never arrived)", s)
	}

	t.Run("user name is not the device id", func(t *testing.T) {
		// Logged in as kiosk-b but reporting as kiosk-x: the broker accepts
		// the login and acknowledges every publish, and drops them all.
		x, err := New(agentOpts("kiosk-x", "kiosk-b"))
		if err != nil {
			t.Fatal(err)
		}
		runClient(t, x, true) // status and discovery acknowledged by now
		msgs := operator.until(t, obs, mqttapi.DefaultPrefix+"/marker/status")
		for _, m := range msgs {
			if strings.Contains(m.Topic(), "/kiosk-x/") {
				t.Fatalf("%s from a kiosk logged in under another name reached the operator", m.Topic())
			}
		}
		for _, m := range haw.until(t, obs, "homeassistant/sensor/marker/x/config") {
			if strings.Contains(m.Topic(), "kiosk-x") {
				t.Fatalf("discovery %s from a kiosk logged in under another name arrived", m.Topic())
			}
		}
	})

	t.Run("device id with a dot", func(t *testing.T) {
		// Topics under faceverify/kiosk.lobby/ match %u; the discovery node
		// id replaces '.' by '_' (Home Assistant allows [A-Za-z0-9_-]), so
		// faceverify_%u does not match and discovery is dropped.
		d, err := New(agentOpts("kiosk.lobby", "kiosk.lobby"))
		if err != nil {
			t.Fatal(err)
		}
		runClient(t, d, true)
		if s := statusOf(t, operator.nextOn(t, d.StatusTopic()).Payload()); s.State != mqttapi.StateOnline {
			t.Fatalf("status of kiosk.lobby: %+v", s)
		}
		for _, m := range haw.until(t, obs, "homeassistant/sensor/marker/y/config") {
			if strings.Contains(m.Topic(), "faceverify_kiosk_lobby") {
				t.Fatalf("discovery %s passed the ACL: update docs/mosquitto-acl.conf and docs/mqtt.md", m.Topic())
			}
		}
	})
}
