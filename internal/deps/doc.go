// Package deps holds the project's import rules and the test that enforces
// them (deps_test.go): arrows point down, from the daemons through the
// agent and the gateway to the contract packages and the leaf helpers.
// The rules are listed in Rules; ARCHITECTURE.md explains them.
package deps

import "strings"

// Module is the module path of this repository.
const Module = "github.com/faceverify/faceverify"

// Rule forbids the packages matched by From to depend on a package that
// Forbidden matches: through any chain of imports, or, when Direct is set,
// only by importing it themselves. Test files are not covered: a test may
// drive the device client against the gateway's broker.
type Rule struct {
	Name      string
	From      func(pkg string) bool
	Forbidden func(pkg string) bool
	Direct    bool
}

// Under matches the module package rel (e.g. "gateway") and every package
// below it.
func Under(rel string) func(string) bool {
	p := Module + "/" + rel
	return func(pkg string) bool { return pkg == p || strings.HasPrefix(pkg, p+"/") }
}

// Below matches the packages strictly below the module package rel
// ("uplink/mqtt" but not "uplink").
func Below(rel string) func(string) bool {
	p := Module + "/" + rel + "/"
	return func(pkg string) bool { return strings.HasPrefix(pkg, p) }
}

// Is matches exactly the given packages: module-relative paths (with a
// '/'-free first element that is a module directory) are tried both as
// given and under Module.
func Is(pkgs ...string) func(string) bool {
	set := map[string]bool{}
	for _, p := range pkgs {
		set[p] = true
		set[Module+"/"+p] = true
	}
	return func(pkg string) bool { return set[pkg] }
}

// Prefix matches packages whose import path starts with one of prefixes
// (third-party modules: "github.com/eclipse/paho.mqtt.golang").
func Prefix(prefixes ...string) func(string) bool {
	return func(pkg string) bool {
		for _, p := range prefixes {
			if pkg == p || strings.HasPrefix(pkg, p+"/") {
				return true
			}
		}
		return false
	}
}

// Any matches what any of fs matches.
func Any(fs ...func(string) bool) func(string) bool {
	return func(pkg string) bool {
		for _, f := range fs {
			if f(pkg) {
				return true
			}
		}
		return false
	}
}

// Not matches what f does not.
func Not(f func(string) bool) func(string) bool {
	return func(pkg string) bool { return !f(pkg) }
}

// InModule matches the packages of this module.
func InModule(pkg string) bool { return pkg == Module || strings.HasPrefix(pkg, Module+"/") }

// ioPackages do network, process, database, MQTT, camera, GPIO or model
// runtime I/O.
var ioPackages = Any(
	Is("net/http", "os/exec", "database/sql"),
	Prefix("github.com/eclipse/paho.mqtt.golang", "github.com/mochi-mqtt/server",
		"github.com/jackc/pgx", "modernc.org/sqlite", "github.com/blackjack/webcam",
		"periph.io/x", "github.com/yalue/onnxruntime_go", "github.com/coreos/go-systemd"),
)

// Rules are the import rules of the module.
var Rules = []Rule{
	{
		Name:      "the gateway never imports the device side (uplink/..., agent/...)",
		From:      Under("gateway"),
		Forbidden: Any(Under("uplink"), Under("agent")),
	},
	{
		Name: "agent/session does no I/O: no network (not even package net), process, database, MQTT, camera " +
			"or model runtime package, no uplink, capture or inference implementation",
		From: Is("agent/session"),
		Forbidden: Any(ioPackages, Is("net"), Below("uplink"), Below("capture"), Below("inference"),
			Under("models"), Under("gateway/broker"), Under("gateway/fleet")),
	},
	{
		Name:      "agent/session opens no sockets, files or processes itself",
		From:      Is("agent/session"),
		Forbidden: Is("net", "os", "os/exec", "syscall", "net/http"),
		Direct:    true,
	},
	{
		Name:      "the daemons do not link the model fetcher",
		From:      Is("cmd/faceagent", "cmd/facegateway"),
		Forbidden: Under("models/fetch"),
	},
	{
		Name:      "inference does not import the gateway, the agent, uplink or capture",
		From:      Under("inference"),
		Forbidden: Any(Under("gateway"), Under("agent"), Under("uplink"), Under("capture")),
	},
	{
		Name:      "capture imports nothing above it",
		From:      Under("capture"),
		Forbidden: Any(Under("agent"), Under("uplink"), Under("gateway"), Under("inference"), Under("models"), Under("cmd")),
	},
	{
		Name:      "the contract packages (gateway/api, gateway/mqttapi) are leaves",
		From:      Is("gateway/api", "gateway/mqttapi"),
		Forbidden: Any(ioPackages, Not(Any(Not(InModule), Is("gateway/api", "gateway/mqttapi"), Under("internal")))),
	},
	{
		Name:      "the shared helpers in internal/ are leaves",
		From:      Under("internal"),
		Forbidden: Any(ioPackages, Not(Any(Not(InModule), Under("internal")))),
	},
}

// Package is one node of the import graph (the fields of go list -json
// this package reads).
type Package struct {
	ImportPath string
	Imports    []string
	DepOnly    bool
}

// Violations checks rules against the import graph pkgs (every package
// and dependency, as go list -deps lists them) and returns one line per
// violation: the rule and the chain of imports that breaks it, e.g.
// "gateway never ...: gateway/fleet → uplink/mqtt". A package reached
// through a forbidden one is not reported again.
func Violations(pkgs []Package, rules []Rule) []string {
	graph := map[string][]string{}
	var roots []string
	for _, p := range pkgs {
		graph[p.ImportPath] = p.Imports
		if !p.DepOnly {
			roots = append(roots, p.ImportPath)
		}
	}
	var out []string
	for _, r := range rules {
		for _, root := range roots {
			if !r.From(root) {
				continue
			}
			if r.Direct {
				for _, imp := range graph[root] {
					if r.Forbidden(imp) {
						out = append(out, r.Name+": "+short(root)+" → "+short(imp))
					}
				}
				continue
			}
			parent := map[string]string{root: ""}
			queue := []string{root}
			for len(queue) > 0 {
				p := queue[0]
				queue = queue[1:]
				for _, imp := range graph[p] {
					if _, seen := parent[imp]; seen {
						continue
					}
					parent[imp] = p
					if r.Forbidden(imp) {
						out = append(out, r.Name+": "+chain(parent, imp))
						continue
					}
					queue = append(queue, imp)
				}
			}
		}
	}
	return out
}

func chain(parent map[string]string, p string) string {
	var c []string
	for ; p != ""; p = parent[p] {
		c = append(c, short(p))
	}
	for i, j := 0, len(c)-1; i < j; i, j = i+1, j-1 {
		c[i], c[j] = c[j], c[i]
	}
	return strings.Join(c, " → ")
}

func short(pkg string) string { return strings.TrimPrefix(pkg, Module+"/") }
