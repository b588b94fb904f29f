package broker

import (
	"bytes"
	"context"
	"log/slog"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/faceverify/faceverify/gateway/mqttapi"
)

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
			// (mqttapi.HANodeID): '.' and other characters turned into '_'.
			{haPrefix + "/+/" + mqttapi.HANodeID(name) + "/#", Write},
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

// covers reports whether every topic that filter matches is matched by
// rule; for a topic name (no wildcards) that is whether rule matches it.
// Both are MQTT topic filters: '/'-separated levels, '+' one level, '#'
// (last) any number of levels including none. Per MQTT 3.1.1 4.7.2 a
// filter starting with a wildcard does not match topics starting with '$'.
func covers(rule, filter string) bool {
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

// accountsHook is the mochi-mqtt hook of a users file: it admits a client
// whose password matches its user name's hash, and holds it to its role's
// Rules. (mochi-mqtt's own auth.Ledger is not used: in v2.7 it compares
// passwords in plain text, matches a rule "a/+" against "a/b/c", lets the
// first matching rule in map order decide, and allows what no rule
// matches.) An unknown user name costs as much as a wrong password, so
// timing does not tell which names exist.
type accountsHook struct {
	mqtt.HookBase
	log      *slog.Logger
	accounts map[string]hookAccount
	decoy    passwordHash
}

type hookAccount struct {
	hash  passwordHash
	rules []Rule
}

func newAccountsHook(accts []Account, prefix, haPrefix string, log *slog.Logger) (*accountsHook, error) {
	h := &accountsHook{log: log, accounts: make(map[string]hookAccount, len(accts))}
	for _, a := range accts {
		h.accounts[a.Name] = hookAccount{hash: a.hash, rules: Rules(a.Role, a.Name, prefix, haPrefix)}
	}
	decoy, err := HashPassword("decoy", accts[0].hash.iterations)
	if err != nil {
		return nil, err
	}
	h.decoy, err = parseHash(decoy)
	return h, err
}

// ID names the hook in mochi-mqtt's logs.
func (h *accountsHook) ID() string { return "faceverify-accounts" }

// Provides reports the events the hook handles: connect authentication
// and topic access checks.
func (h *accountsHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

// OnConnectAuthenticate admits a client whose password matches the hash of
// its user name's account.
func (h *accountsHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	a, ok := h.accounts[string(pk.Connect.Username)]
	if !ok || len(pk.Connect.Password) == 0 {
		h.decoy.check(pk.Connect.Password)
		ok = false
	} else {
		ok = a.hash.check(pk.Connect.Password)
	}
	if !ok {
		h.log.Warn("broker login refused", "user", string(pk.Connect.Username), "remote", cl.Net.Remote)
		return false
	}
	// A Last Will is a publish made on the client's behalf later, when no
	// ACL check runs: its topic must be one the account may publish to now.
	if pk.Connect.WillFlag && !a.allows(pk.Connect.WillTopic, Write) {
		h.log.Warn("broker login refused: Last Will topic not allowed for this account",
			"user", string(pk.Connect.Username), "will_topic", pk.Connect.WillTopic, "remote", cl.Net.Remote)
		return false
	}
	return true
}

// allows reports whether one of the account's rules grants need on topic.
func (a hookAccount) allows(topic string, need Access) bool {
	for _, r := range a.rules {
		if r.Access&need != 0 && covers(r.Filter, topic) {
			return true
		}
	}
	return false
}

// OnACLCheck allows a publish to topic (write) when a Write rule of the
// client's account matches it, and a subscription to a filter, or the
// delivery of a message (read), when a Read rule covers it.
func (h *accountsHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	a, ok := h.accounts[string(cl.Properties.Username)]
	if !ok {
		return false
	}
	need := Read
	if write {
		need = Write
	}
	if a.allows(topic, need) {
		return true
	}
	level := slog.LevelDebug // refused deliveries on a granted filter are routine
	if write {
		level = slog.LevelInfo
	}
	h.log.Log(context.Background(), level, "broker refused topic", "user", string(cl.Properties.Username), "topic", topic, "write", write)
	return false
}
