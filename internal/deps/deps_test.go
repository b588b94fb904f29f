package deps

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/internal/testenv"
)

// TestImportRules lists the module's import graph with go list (test
// files excluded) and fails with one line per forbidden import chain.
func TestImportRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "go tool not on PATH: %v", err)
		return
	}
	cmd := exec.Command(goTool, "list", "-deps", "-json=ImportPath,Imports,DepOnly", Module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	pkgs, err := decode(out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(pkgs, func(p Package) bool { return p.ImportPath == Module+"/gateway/fleet" && !p.DepOnly }) {
		t.Fatalf("go list did not list gateway/fleet among %d packages", len(pkgs))
	}
	for _, v := range Violations(pkgs, Rules) {
		t.Error(v)
	}
}

func decode(b []byte) ([]Package, error) {
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var p Package
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs, nil
		}
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
}

// TestViolationsNamesTheChain: each rule reports the chain of imports that
// breaks it, and a graph that keeps the rules passes.
func TestViolationsNamesTheChain(t *testing.T) {
	m := func(rel string) string { return Module + "/" + rel }
	tests := []struct {
		name string
		pkgs []Package
		want []string // substrings, one per expected violation
	}{
		{
			name: "clean",
			pkgs: []Package{
				{ImportPath: m("gateway/fleet"), Imports: []string{m("gateway/mqttapi"), "net/http"}},
				{ImportPath: m("gateway/mqttapi"), Imports: []string{m("internal/atomicfile")}},
				{ImportPath: m("internal/atomicfile"), Imports: []string{"os"}},
				{ImportPath: m("agent/session"), Imports: []string{m("uplink"), "time"}},
				{ImportPath: m("uplink"), Imports: []string{"errors"}},
				{ImportPath: "net/http", DepOnly: true}, {ImportPath: "os", DepOnly: true},
			},
		},
		{
			name: "session reaches package net through uplink",
			pkgs: []Package{
				{ImportPath: m("agent/session"), Imports: []string{m("uplink")}},
				{ImportPath: m("uplink"), Imports: []string{"net"}},
			},
			want: []string{"agent/session → uplink → net"},
		},
		{
			name: "gateway reaches the device client through a helper",
			pkgs: []Package{
				{ImportPath: m("gateway/fleet"), Imports: []string{m("gateway/helper")}},
				{ImportPath: m("gateway/helper"), Imports: []string{m("uplink/mqtt")}},
				{ImportPath: m("uplink/mqtt"), Imports: []string{"github.com/eclipse/paho.mqtt.golang"}},
			},
			want: []string{"gateway/fleet → gateway/helper → uplink/mqtt", "gateway/helper → uplink/mqtt"},
		},
		{
			name: "session does I/O",
			pkgs: []Package{
				{ImportPath: m("agent/session"), Imports: []string{"os/exec", m("uplink/spool")}},
			},
			want: []string{"agent/session → os/exec", "agent/session → uplink/spool", "opens no sockets"},
		},
		{
			name: "daemon links the fetcher",
			pkgs: []Package{
				{ImportPath: m("cmd/faceagent"), Imports: []string{m("models/fetch")}},
			},
			want: []string{"cmd/faceagent → models/fetch"},
		},
		{
			name: "contract imports the gateway",
			pkgs: []Package{
				{ImportPath: m("gateway/mqttapi"), Imports: []string{m("gateway")}},
			},
			want: []string{"gateway/mqttapi → gateway"},
		},
		{
			name: "capture imports inference",
			pkgs: []Package{
				{ImportPath: m("capture/replay"), Imports: []string{m("inference")}},
			},
			want: []string{"capture/replay → inference"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Violations(tt.pkgs, Rules)
			if len(got) != len(tt.want) {
				t.Fatalf("%d violations, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(v string) bool { return strings.Contains(v, w) }) {
					t.Errorf("no violation names %q:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}
