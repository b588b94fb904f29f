package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/partnerdemo"
	"github.com/faceverify/faceverify/models"
)

// Peak resident memory allowed to the gateway process while it is sent
// eight 6320×6320 16-bit RGBA PNGs at once (each 320 MB decoded).
const maxGatewayHWM = 600 << 20

// TestDecodeBombsKeepMemoryBounded runs the real `facegateway serve` and
// `facegateway partner` processes, sends eight concurrent 6320×6320 16-bit
// RGBA PNG selfies (~310 KB each, under the 40-Mpixel reference limit), then
// makes the partner serve the same image as a reference. Every upload must
// get a clear refusal (413, 400 or 503 with an error code: no 500, no hang),
// the reference must end the flow REFERENCE_UNAVAILABLE with a detail, and
// the gateway's peak RSS (VmHWM) must stay under 600 MB.
func TestDecodeBombsKeepMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level memory test skipped in -short mode")
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
	selfiePath := filepath.Join(root, "..", "shared", "testdata", "identity", "person_a_01.jpg")
	selfie, err := os.ReadFile(selfiePath)
	if err != nil {
		t.Skipf("labelled photos not found: ../shared/testdata (%v)", err)
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/facegateway")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bin := filepath.Join(dir, "facegateway")

	bomb := gatewaytest.PNGBomb(6320, 6320)
	t.Logf("bomb: 6320×6320 16-bit RGBA PNG, %d bytes encoded, %d bytes decoded", len(bomb), 6320*6320*8)
	refs := filepath.Join(dir, "refs")
	if err := os.Mkdir(refs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(refs, "bomb.png"), bomb, 0o600); err != nil {
		t.Fatal(err)
	}

	gwPort, partnerPort := freePort(t), freePort(t)
	gwURL := fmt.Sprintf("http://127.0.0.1:%d", gwPort)
	partnerURL := fmt.Sprintf("http://127.0.0.1:%d", partnerPort)
	cfgPath := filepath.Join(dir, "gateway.toml")
	writeFile(t, cfgPath, fmt.Sprintf(`listen = "127.0.0.1:%d"
[database]
path = %q
[processing]
poll_interval = "100ms"
[inference]
models_dir = %q
[devices]
require_signature = false
[[partners]]
client_id = "demo"
reference_url = "%s/reference"
flows = ["selfie"]
allow_private_network = true
`, gwPort, filepath.Join(dir, "gw.db"), modelsDir, partnerURL))
	const passkey = "memory-test-passkey-0123"
	env := append(os.Environ(), "FACEGATEWAY_PARTNER_DEMO_PASSKEY="+passkey, partnerdemo.EnvPasskey+"="+passkey)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	gw := startProcess(t, ctx, env, bin, "serve", "-config", cfgPath)
	waitHealthy(t, ctx, gwURL+"/healthz", gw)
	partner := startProcess(t, ctx, env, bin, "partner", "-listen", fmt.Sprintf("127.0.0.1:%d", partnerPort),
		"-gateway", gwURL, "-references", refs)
	waitHealthy(t, ctx, partnerURL+"/healthz", partner)
	base := vmHWM(t, gw.cmd.Process.Pid)
	t.Logf("gateway VmHWM after start: %d MB", base>>20)

	// Eight flows, then eight concurrent bomb uploads.
	const uploads = 8
	tokens := make([]string, uploads)
	for i := range tokens {
		tokens[i] = newSession(t, ctx, partnerURL, fmt.Sprintf("user%d", i)).Token
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	type answer struct {
		code int
		err  api.Error
		fail error
	}
	answers := make([]answer, uploads)
	var wg sync.WaitGroup
	for i := range uploads {
		wg.Go(func() {
			body, _ := json.Marshal(api.SubmissionRequest{Selfie: bomb, DeviceID: "kiosk-1", IdempotencyKey: fmt.Sprintf("bomb-%d", i),
				DeviceLiveness: api.DeviceLiveness{Score: 0.9, Live: true, Model: "fr_liveness.onnx"}, CapturedAt: time.Now()})
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gwURL+api.PathSubmissions, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tokens[i])
			resp, err := client.Do(req)
			if err != nil {
				answers[i].fail = err
				return
			}
			defer resp.Body.Close()
			answers[i].code = resp.StatusCode
			json.NewDecoder(resp.Body).Decode(&answers[i].err)
		})
	}
	wg.Wait()
	for i, a := range answers {
		switch {
		case a.fail != nil:
			t.Errorf("upload %d: no answer: %v", i, a.fail)
		case a.code != http.StatusRequestEntityTooLarge && a.code != http.StatusBadRequest && a.code != http.StatusServiceUnavailable:
			t.Errorf("upload %d: %d %+v, want 413, 400 or 503", i, a.code, a.err)
		case a.err.Code == "":
			t.Errorf("upload %d: %d without an error code", i, a.code)
		default:
			t.Logf("upload %d: %d %s: %s", i, a.code, a.err.Code, a.err.Message)
		}
	}
	afterUploads := vmHWM(t, gw.cmd.Process.Pid)
	t.Logf("gateway VmHWM after %d concurrent uploads: %d MB", uploads, afterUploads>>20)

	// The same image as a reference: a genuine selfie for user "bomb".
	s := newSession(t, ctx, partnerURL, "bomb")
	body, _ := json.Marshal(api.SubmissionRequest{Selfie: selfie, DeviceID: "kiosk-1", IdempotencyKey: "ref-bomb",
		DeviceLiveness: api.DeviceLiveness{Score: 0.9, Live: true, Model: "fr_liveness.onnx"}, CapturedAt: time.Now()})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gwURL+api.PathSubmissions, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("genuine selfie: %d, want 202", resp.StatusCode)
	}
	st := waitFinal(t, ctx, gwURL, s.Token)
	if st.Status != api.StatusRejected || st.Reason != api.ReasonReferenceUnavailable {
		t.Errorf("flow with a bomb reference: %+v, want REJECTED %s", st, api.ReasonReferenceUnavailable)
	}
	var ss partnerdemo.SessionState
	if err := getJSON(ctx, partnerURL+"/sessions/"+s.CorrelationID, &ss); err != nil {
		t.Errorf("details via the partner: %v", err)
	} else if ss.Details == nil || len(ss.Details.Attempts) != 1 {
		t.Errorf("details via the partner: %+v, want one attempt", ss.Details)
	} else {
		t.Logf("details: attempt %+v", ss.Details.Attempts[0])
	}
	peak := vmHWM(t, gw.cmd.Process.Pid)
	t.Logf("gateway VmHWM after the bomb reference: %d MB (limit %d MB)", peak>>20, maxGatewayHWM>>20)
	if peak >= maxGatewayHWM {
		t.Errorf("gateway peak RSS %d MB, want < %d MB", peak>>20, maxGatewayHWM>>20)
	}
	if t.Failed() {
		t.Logf("gateway log:\n%s", gw.log.String())
	}
}

type process struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProcess starts bin with args and stops it (SIGINT, then kill) when
// the test ends.
func startProcess(t *testing.T, ctx context.Context, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{log: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitHealthy polls url until it answers 200, the process exits or ctx ends.
func waitHealthy(t *testing.T, ctx context.Context, url string, p *process) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("%s exited: %v\n%s", p.cmd.Args, err, p.log.String())
		case <-ctx.Done():
			t.Fatalf("%s not healthy: %v\n%s", url, ctx.Err(), p.log.String())
		case <-tick.C:
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// vmHWM is the peak resident set size of process pid, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read VmHWM: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parse VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// newSession asks the sample partner for a selfie flow for user.
func newSession(t *testing.T, ctx context.Context, partnerURL, user string) partnerdemo.Session {
	t.Helper()
	body, _ := json.Marshal(partnerdemo.SessionRequest{PartnerUserID: user, PartnerUserIDType: "account", Flow: api.FlowSelfie})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, partnerURL+partnerdemo.PathSessions, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s partnerdemo.Session
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s for %s: %s", partnerdemo.PathSessions, user, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitFinal polls the gateway's status for the user token until it is
// final (next action EXIT) or ctx ends.
func waitFinal(t *testing.T, ctx context.Context, gwURL, token string) api.StatusResponse {
	t.Helper()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, gwURL+api.PathStatus, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		var st api.StatusResponse
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if st.NextAction == api.ActionExit || st.NextAction == api.ActionRetry && st.Status == api.StatusRejected {
			return st
		}
		wait := time.Duration(max(st.RetryAfterMS, 50)) * time.Millisecond
		select {
		case <-ctx.Done():
			t.Fatalf("status never final: last %+v", st)
		case <-time.After(wait):
		}
	}
}

func getJSON(ctx context.Context, url string, out any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
