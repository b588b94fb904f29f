package mqttapi

import (
	"fmt"
	"strings"
)

// Role is what a broker account may publish and subscribe to; the topic
// rules of each role are Rules.
type Role string

// The roles of broker accounts (the embedded broker's broker.users_file),
// mirroring docs/mosquitto-acl.conf.
const (
	// RoleKiosk is a kiosk agent whose account name is its device.id: it
	// writes only its own status, events, telemetry, command replies and
	// Home Assistant discovery, and reads only its own commands, its own
	// Home Assistant buttons and Home Assistant's birth message.
	RoleKiosk Role = "kiosk"
	// RoleOperator is the fleet page and operators' scripts: it reads
	// every kiosk's status, events, telemetry and command replies, and
	// writes commands (signed; see docs/mqtt.md) and Home Assistant
	// buttons. It does not read commands, which carry user tokens.
	RoleOperator Role = "operator"
	// RoleViewer is a read-only dashboard: every kiosk's status, events
	// and telemetry.
	RoleViewer Role = "viewer"
	// RoleHomeAssistant is Home Assistant: it reads status, events,
	// telemetry and the discovery prefix, announces itself on
	// <ha prefix>/status, and presses only the identify and self-test
	// buttons.
	RoleHomeAssistant Role = "homeassistant"
)

// Roles lists every role in the order the help texts name them.
var Roles = []Role{RoleKiosk, RoleOperator, RoleViewer, RoleHomeAssistant}

// ParseRole returns the role named s, or an error listing the roles.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("role %q: want kiosk, operator, viewer or homeassistant", s)
}

// Access is what a Rule allows on the topics its filter matches.
type Access uint8

// Accesses; a Rule may combine them.
const (
	Read  Access = 1 << iota // subscribe, and be sent matching messages
	Write                    // publish
)

// Rule allows Access on the topics that Filter (an MQTT topic filter with
// + and #) matches.
type Rule struct {
	Filter string
	Access Access
}

// Rules returns the topic rules of an account, the embedded broker's
// counterpart of docs/mosquitto-acl.conf, for the agents' topic prefix
// (their mqtt.prefix, e.g. "faceverify") and Home Assistant's discovery
// prefix (e.g. "homeassistant"). name is the account name; it matters only
// for RoleKiosk, whose rules name its own topics. An unknown role has no
// rules.
//
// A client may publish to a topic when one of its Write rules matches it,
// and subscribe to a filter when one of its Read rules matches every topic
// the filter can match; each message is checked again against the
// subscriber's rules before it is sent. Everything else is refused.
func Rules(role Role, name, prefix, haPrefix string) []Rule {
	switch role {
	case RoleKiosk:
		own := prefix + "/" + name + "/"
		return []Rule{
			{own + "status", Write}, // including its Last Will
			{own + "events", Write},
			{own + "telemetry", Write},
			{own + "cmd/+/reply", Write},
			{own + "cmd/#", Read}, // signed commands (and its own replies)
			{own + "ha/#", Read},  // Home Assistant buttons
			// Discovery of itself, under the node id the agent publishes
			// (HANodeID): '.' and other characters turned into '_'.
			{haPrefix + "/+/" + HANodeID(name) + "/#", Write},
			{haPrefix + "/status", Read}, // Home Assistant's birth message
		}
	case RoleOperator:
		return []Rule{
			{prefix + "/+/status", Read},
			{prefix + "/+/events", Read},
			{prefix + "/+/telemetry", Read},
			{prefix + "/+/cmd/+/reply", Read},
			{prefix + "/+/cmd/+", Write}, // not Read: commands carry user tokens
			{prefix + "/+/ha/+", Write},
		}
	case RoleViewer:
		return []Rule{
			{prefix + "/+/status", Read},
			{prefix + "/+/events", Read},
			{prefix + "/+/telemetry", Read},
		}
	case RoleHomeAssistant:
		return []Rule{
			{prefix + "/+/status", Read},
			{prefix + "/+/events", Read},
			{prefix + "/+/telemetry", Read},
			{prefix + "/+/ha/identify", Write},
			{prefix + "/+/ha/self-test", Write},
			// Discovery configs (it clears those of removed devices) and
			// its own birth message.
			{haPrefix + "/#", Read | Write},
		}
	}
	return nil
}

// Covers reports whether every topic that filter matches is matched by
// rule; for a topic name (no wildcards) that is whether rule matches it.
// Both are MQTT topic filters: '/'-separated levels, '+' one level, '#'
// (last) any number of levels including none. Per MQTT 3.1.1 4.7.2 a
// filter starting with a wildcard does not match topics starting with '$'.
func Covers(rule, filter string) bool {
	r, f := strings.Split(rule, "/"), strings.Split(filter, "/")
	if strings.HasPrefix(filter, "$") && (r[0] == "+" || r[0] == "#") {
		return false
	}
	for i, fl := range f {
		if i >= len(r) {
			return false // filter longer than rule
		}
		switch {
		case r[i] == "#":
			return true
		case fl == "#":
			return false // the filter reaches levels the rule does not
		case fl == "+":
			if r[i] != "+" {
				return false
			}
		case r[i] != "+" && r[i] != fl:
			return false
		}
	}
	// Filter used up: the rule must end too, or end in a '#' that also
	// matches its parent level ("a/#" matches "a").
	return len(r) == len(f) || (len(r) == len(f)+1 && r[len(f)] == "#")
}
