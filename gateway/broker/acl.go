package broker

import (
	"bytes"
	"context"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/faceverify/faceverify/gateway/mqttapi"
)

// Access, Rule and Rules are the MQTT contract's per-role topic rules
// (mqttapi), which the accounts hook enforces.
type (
	Access = mqttapi.Access
	Rule   = mqttapi.Rule
)

// Accesses; a Rule may combine them.
const (
	Read  = mqttapi.Read
	Write = mqttapi.Write
)

// Rules returns the topic rules of an account; see mqttapi.Rules.
func Rules(role Role, name, prefix, haPrefix string) []Rule {
	return mqttapi.Rules(role, name, prefix, haPrefix)
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
		if r.Access&need != 0 && mqttapi.Covers(r.Filter, topic) {
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
