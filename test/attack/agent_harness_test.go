package attack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Agent is a running kiosk agent (`faceagent run`) for rows that attack
// its loopback API: a replay camera showing FillerSelfie, no MQTT, no
// offline spool, no device key, models from the repository. Get one with
// Stack.StartAgent.
type Agent struct {
	URL string // loopback API base URL, "http://127.0.0.1:PORT"
	Dir string // work directory: config, replay images, log

	proc   *proc
	client *http.Client
}

// agentTOML is the agent's config: device id, API port, replay
// directory, models directory.
const agentTOML = `# written by the attack suite (test/attack)
[device]
id = %q

[api]
listen = "127.0.0.1:%d"

[capture]
source = "replay"
replay_path = %q
fps = 5
loop = true

[mqtt]
broker = ""

[metrics]
listen = ""

[spool]
enabled = false

[identity]
key_file = ""

[inference]
models_dir = %q
`

// StartAgent starts a faceagent process for t (the gateway of s is where
// rows point its launches). At cleanup it gets SIGTERM and must exit with
// status 0; its log is added to t's log if t failed.
func (s *Stack) StartAgent(t testing.TB) *Agent {
	t.Helper()
	dir := t.TempDir()
	replay := filepath.Join(dir, "camera")
	if err := os.MkdirAll(replay, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(replay, "frame.jpg"), FillerSelfie(t), 0o600); err != nil {
		t.Fatal(err)
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "faceagent.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(agentTOML, "kiosk-"+randomHex(4), ports[0], replay, modelsDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := startProc(dir, "agent", nil, agentBin, "run", "-config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{URL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), Dir: dir, proc: p, client: s.client}
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("agent log (%s):\n%s", p.logPath, p.tail(0))
		}
	})
	if err := s.waitReady(p, a.URL); err != nil {
		t.Fatal(err)
	}
	return a
}

// Do sends a request to the agent's loopback API (JSON body when body is
// not empty) and returns the answer read in full.
func (a *Agent) Do(t testing.TB, method, path, body string) *Response {
	t.Helper()
	req, err := http.NewRequest(method, a.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatalf("agent %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("agent %s %s: read answer: %v", method, path, err)
	}
	return &Response{Code: resp.StatusCode, Header: resp.Header, Body: b}
}

// AgentError is the agent's error body (agent/control.ErrorPayload).
type AgentError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

// AgentError decodes the body as the agent's error (zero if it is not one).
func (r *Response) AgentError() AgentError {
	var e AgentError
	json.Unmarshal(r.Body, &e)
	return e
}
