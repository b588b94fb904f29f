package mqttapi

import (
	"strings"
)

// DefaultPrefix is the first topic level of every kiosk topic when the
// agent's mqtt.prefix is empty.
const DefaultPrefix = "faceverify"

// DefaultHADiscoveryPrefix is Home Assistant's default discovery prefix;
// its birth message is "online" on <prefix>/status.
const DefaultHADiscoveryPrefix = "homeassistant"

// HAPayloadPress is what the Home Assistant buttons send.
const HAPayloadPress = "PRESS"

// UncleanSeqJump is how far the event sequence jumps after the agent
// stopped without closing its outbox (crash, kill -9, power loss): event
// files and the counter are written without fsync, so the last few may be
// lost, and a rewound counter must not reuse a seq a consumer has already
// seen (it would drop the new event as a duplicate). The jump shows up as
// a gap; the first event after it carries "gap":"restart" (GapRestart) so
// a consumer can tell the jump from lost events.
const UncleanSeqJump = 100

// GapRestart is EventMessage.Gap on the first event queued after the
// sequence jumped by UncleanSeqJump: the seqs skipped before it were never
// used (at most the last few events before the unclean stop were lost).
const GapRestart = "restart"

// Topic suffixes after P/D/.
const (
	TopicStatus    = "status"
	TopicEvents    = "events"
	TopicTelemetry = "telemetry"
)

// DeviceTopic is prefix/deviceID/suffix, e.g. DeviceTopic("faceverify",
// "kiosk-01", TopicStatus) is "faceverify/kiosk-01/status".
func DeviceTopic(prefix, deviceID, suffix string) string {
	return prefix + "/" + deviceID + "/" + suffix
}

// CommandTopic is P/D/cmd/<name>, the topic a signed command is published
// on and its signature is bound to.
func CommandTopic(prefix, deviceID, name string) string {
	return DeviceTopic(prefix, deviceID, "cmd/"+name)
}

// HACommand reports whether Home Assistant may send command name
// unsigned, on P/D/ha/<name>: harmless ones only (identify and self-test;
// nothing starts a verification, cancels one or changes the
// configuration).
func HACommand(name string) bool {
	return name == CmdIdentify || name == CmdSelfTest
}

// HANodeID is the Home Assistant node id a kiosk publishes its discovery
// under: "faceverify_" + the device id with every character outside
// [A-Za-z0-9_-] (what node and object ids allow) replaced by '_'.
func HANodeID(deviceID string) string {
	var b strings.Builder
	b.WriteString("faceverify_")
	for _, r := range deviceID {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// ValidTopicLevel reports whether s can be one MQTT topic level: non-empty,
// at most 128 bytes, without '/', '+', '#' or control characters.
func ValidTopicLevel(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r == '/' || r == '+' || r == '#' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// TopicPrefixValid reports whether p can be a topic prefix: one or more
// topic levels without wildcards, not starting or ending with '/', not
// starting with '$'.
func TopicPrefixValid(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.HasPrefix(p, "$") {
		return false
	}
	for _, lvl := range strings.Split(p, "/") {
		if !ValidTopicLevel(lvl) {
			return false
		}
	}
	return true
}
