package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/models"
)

// TestDemoEndToEnd builds faceagent and facegateway, runs the three demo
// verifications on the demo's own (embedded) photos through real processes (gateway with embedded broker,
// sample partner, agent with real models over real HTTP and MQTT), and
// checks each decision, the MQTT events and that no event carries biometric
// data or tokens.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end demo skipped in -short mode")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	modelsDir := filepath.Join(root, "models")
	m, err := models.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(modelsDir, "fr_detect.onnx", "fr_feature.onnx", models.ORTLibrary()); err != nil {
		t.Skipf("models not fetched (run `make models`): %v", err)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/faceagent", "./cmd/facegateway")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The demo runs real models in three processes: on a machine whose
	// cores are busy it takes minutes. Allow all the time the test has
	// (go test -timeout), leaving a margin to report the failure.
	guard := 15 * time.Minute
	if d, ok := t.Deadline(); ok {
		guard = time.Until(d) - 30*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err = run(ctx, options{Models: modelsDir, Bin: bin}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}

	var results []result
	events := map[string][]string{}  // correlation id → states in order
	actions := map[string][]string{} // correlation id → next actions printed
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "{"):
			var r result
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("result line %q: %v", line, err)
			}
			results = append(results, r)
		case strings.HasPrefix(line, "next action "):
			f := strings.Fields(line)
			if len(f) < 4 || !strings.HasPrefix(f[3], "correlation_id=") {
				t.Fatalf("next action line %q", line)
			}
			cid := strings.TrimPrefix(f[3], "correlation_id=")
			actions[cid] = append(actions[cid], f[2])
		case strings.HasPrefix(line, "mqtt ") && strings.Contains(line, "/events "):
			payload := line[strings.Index(line, "{"):]
			var ev map[string]any
			if err := json.Unmarshal([]byte(payload), &ev); err != nil {
				t.Fatalf("event %q: %v", payload, err)
			}
			for _, banned := range []string{"selfie", "image", "embedding", "similarity", "liveness", "score", "token"} {
				if _, ok := ev[banned]; ok {
					t.Errorf("MQTT event carries %q: %s", banned, payload)
				}
			}
			cid, _ := ev["correlation_id"].(string)
			state, _ := ev["state"].(string)
			events[cid] = append(events[cid], state)
		}
	}
	if len(results) != len(scenarios) {
		t.Fatalf("got %d result lines, want %d:\n%s", len(results), len(scenarios), stdout.String())
	}
	for i, want := range scenarios {
		got := results[i]
		if got.Status != want.WantStatus || got.Reason != want.WantReason || !got.Expected {
			t.Errorf("%s: got %s/%s, want %s/%s", want.Name, got.Status, got.Reason, want.WantStatus, want.WantReason)
		}
		states := events[got.CorrelationID]
		if len(states) == 0 || states[len(states)-1] != strings.ToLower(want.WantStatus) {
			t.Errorf("%s: MQTT states %v, want a final %q", want.Name, states, strings.ToLower(want.WantStatus))
		}
	}
	if r := results[0]; r.Similarity == nil || *r.Similarity < 0.35 {
		t.Errorf("genuine similarity = %v, want ≥ 0.35", r.Similarity)
	}
	if r := results[2]; r.Attempts != 3 {
		t.Errorf("presentation attack used %d attempts, want 3 (RETRY, RETRY, EXIT)", r.Attempts)
	}
	// The next actions are printed as they happen.
	for i, want := range [][]string{{"EXIT"}, {"EXIT"}, {"RETRY", "RETRY", "EXIT"}} {
		if got := actions[results[i].CorrelationID]; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: next actions printed %v, want %v", scenarios[i].Name, got, want)
		}
	}
}
