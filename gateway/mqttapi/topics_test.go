package mqttapi

import (
	"slices"
	"testing"
)

func TestHANodeID(t *testing.T) {
	tests := []struct{ id, want string }{
		{"kiosk-01", "faceverify_kiosk-01"},
		{"kiosk.lobby", "faceverify_kiosk_lobby"},
		{"a b/c+#", "faceverify_a_b_c__"},
		{"Kiosk_2", "faceverify_Kiosk_2"},
	}
	for _, tt := range tests {
		if got := HANodeID(tt.id); got != tt.want {
			t.Errorf("HANodeID(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

func TestTopics(t *testing.T) {
	if got, want := CommandTopic("fv", "k1", CmdIdentify), "fv/k1/cmd/identify"; got != want {
		t.Errorf("CommandTopic = %q, want %q", got, want)
	}
	if got, want := DeviceTopic(DefaultPrefix, "k1", TopicStatus), "faceverify/k1/status"; got != want {
		t.Errorf("DeviceTopic = %q, want %q", got, want)
	}
	for _, tt := range []struct {
		name string
		ha   bool
	}{{CmdIdentify, true}, {CmdSelfTest, true}, {CmdVerify, false}, {CmdCancel, false}, {CmdReloadConfig, false}, {"", false}} {
		if got := HACommand(tt.name); got != tt.ha {
			t.Errorf("HACommand(%q) = %v, want %v", tt.name, got, tt.ha)
		}
	}
	for _, tt := range []struct {
		p  string
		ok bool
	}{{"faceverify", true}, {"site/a", true}, {"", false}, {"/a", false}, {"a/", false}, {"$SYS", false}, {"a/+", false}, {"a//b", false}} {
		if got := TopicPrefixValid(tt.p); got != tt.ok {
			t.Errorf("TopicPrefixValid(%q) = %v, want %v", tt.p, got, tt.ok)
		}
	}
}

// TestKioskRulesCoverItsOwnTopics: a kiosk may publish every topic the
// contract gives it and read its commands, and no other kiosk's.
func TestKioskRulesCoverItsOwnTopics(t *testing.T) {
	rules := Rules(RoleKiosk, "kiosk.a", "fv", "ha")
	allowed := func(topic string, a Access) bool {
		return slices.ContainsFunc(rules, func(r Rule) bool { return r.Access&a != 0 && Covers(r.Filter, topic) })
	}
	for _, s := range []string{TopicStatus, TopicEvents, TopicTelemetry, "cmd/verify/reply"} {
		if !allowed(DeviceTopic("fv", "kiosk.a", s), Write) {
			t.Errorf("kiosk cannot publish its %s", s)
		}
		if allowed(DeviceTopic("fv", "kiosk.b", s), Write) {
			t.Errorf("kiosk can publish another kiosk's %s", s)
		}
	}
	if !allowed(CommandTopic("fv", "kiosk.a", CmdVerify), Read) || allowed(CommandTopic("fv", "kiosk.b", CmdVerify), Read) {
		t.Error("kiosk must read its own commands only")
	}
	if !allowed("ha/sensor/"+HANodeID("kiosk.a")+"/state/config", Write) {
		t.Error("kiosk cannot publish its Home Assistant discovery")
	}
	if _, err := ParseRole("admin"); err == nil {
		t.Error(`ParseRole("admin") succeeded`)
	}
}
