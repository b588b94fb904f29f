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
// `facegateway partner` processes and sends eight concurrent 6320×6320
// 16-bit RGBA PNG selfies (~310 KB each, 320 MB decoded, under the
// 40-Mpixel reference limit), then has the partner serve that image as a
// reference. Every upload must get a clear refusal (413, 400 or 503 with an
// error code: no 500, no hang), the reference must end the flow
// REFERENCE_UNAVAILABLE with a detail, and the gateway's peak RSS (VmHWM)
// must stay under 600 MB. It does so twice: with the default limits (the
// selfie pixel limit refuses the uploads) and with the selfie pixel limit
// raised to the reference's, where the header's decode estimate and the
// decode budget must hold; the second run also sends eight 4096×4096 8-bit
// PNGs (134 MB to decode each, two fit the 256 MiB budget at once), which
// must each be accepted or answered 503 with Retry-After.
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
	bomb := gatewaytest.PNGBomb(6320, 6320, 16)
	t.Logf("bomb: 6320×6320 16-bit RGBA PNG, %d bytes encoded, %d bytes decoded", len(bomb), 6320*6320*8)
	refs := filepath.Join(dir, "refs")
	if err := os.Mkdir(refs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(refs, "bomb.png"), bomb, 0o600); err != nil {
		t.Fatal(err)
	}
	stack := memStack{t: t, bin: filepath.Join(dir, "facegateway"), models: modelsDir, refs: refs}

	t.Run("default limits", func(t *testing.T) {
		stack.t = t
		gw := stack.start("")
		for i, a := range gw.uploadAll(bomb, "bomb") {
			a.wantRefusal(t, i)
		}
		t.Logf("VmHWM after 8 concurrent bomb uploads: %d MB", gw.hwm()>>20)
		gw.bombReference(selfie)
		gw.checkPeak()
	})
	t.Run("selfie limit at 40 Mpixels", func(t *testing.T) {
		stack.t = t
		gw := stack.start("max_selfie_pixels = 40000000\n")
		for i, a := range gw.uploadAll(bomb, "bomb") {
			a.wantRefusal(t, i)
		}
		t.Logf("VmHWM after 8 concurrent bomb uploads: %d MB", gw.hwm()>>20)
		big := gatewaytest.PNGBomb(4096, 4096, 8)
		var accepted []string
		for i, a := range gw.uploadAll(big, "big") {
			switch {
			case a.fail != nil:
				t.Errorf("4096² upload %d: no answer: %v", i, a.fail)
			case a.code == http.StatusAccepted:
				accepted = append(accepted, a.token)
			case a.code == http.StatusServiceUnavailable && a.err.Code == api.CodeServerBusy && a.retryAfter != "":
				t.Logf("4096² upload %d: 503 %s, Retry-After %s", i, a.err.Code, a.retryAfter)
			default:
				t.Errorf("4096² upload %d: %d %+v (Retry-After %q), want 202, or 503 %s with Retry-After", i, a.code, a.err, a.retryAfter, api.CodeServerBusy)
			}
		}
		t.Logf("4096² uploads: %d of 8 accepted", len(accepted))
		if len(accepted) == 0 {
			t.Errorf("no 4096² upload accepted: the budget admits two at once")
		}
		for _, tok := range accepted { // the workers decode them again
			if st := waitFinal(t, gw.ctx, gw.url, tok); st.Status != api.StatusRejected {
				t.Errorf("uniform 4096² selfie: %+v, want REJECTED", st)
			}
		}
		t.Logf("VmHWM after the 4096² uploads were processed: %d MB", gw.hwm()>>20)
		gw.bombReference(selfie)
		gw.checkPeak()
	})
}

// memStack starts gateway and sample partner processes for the memory test.
type memStack struct {
	t                 *testing.T
	bin, models, refs string
}

type memGateway struct {
	t               *testing.T
	ctx             context.Context
	url, partnerURL string
	gw              *process
	n               int
}

// start runs a gateway (with extraLimits added to its [limits] table) and
// a sample partner serving refs, both stopped when the test ends.
func (s memStack) start(extraLimits string) *memGateway {
	t := s.t
	dir := t.TempDir()
	gwPort, partnerPort := freePort(t), freePort(t)
	g := &memGateway{t: t, url: fmt.Sprintf("http://127.0.0.1:%d", gwPort), partnerURL: fmt.Sprintf("http://127.0.0.1:%d", partnerPort)}
	cfgPath := filepath.Join(dir, "gateway.toml")
	writeFile(t, cfgPath, fmt.Sprintf(`listen = "127.0.0.1:%d"
[database]
path = %q
[processing]
poll_interval = "100ms"
[limits]
%s
[inference]
models_dir = %q
[devices]
require_signature = false
[[partners]]
client_id = "demo"
reference_url = "%s/reference"
flows = ["selfie"]
allow_private_network = true
`, gwPort, filepath.Join(dir, "gw.db"), extraLimits, s.models, g.partnerURL))
	const passkey = "memory-test-passkey-0123"
	env := append(os.Environ(), "FACEGATEWAY_PARTNER_DEMO_PASSKEY="+passkey, partnerdemo.EnvPasskey+"="+passkey)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	g.ctx = ctx
	g.gw = startProcess(t, ctx, env, s.bin, "serve", "-config", cfgPath)
	waitHealthy(t, ctx, g.url+"/healthz", g.gw)
	partner := startProcess(t, ctx, env, s.bin, "partner", "-listen", fmt.Sprintf("127.0.0.1:%d", partnerPort),
		"-gateway", g.url, "-references", s.refs)
	waitHealthy(t, ctx, g.partnerURL+"/healthz", partner)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.gw.log.String())
		}
	})
	t.Logf("gateway VmHWM after start: %d MB", g.hwm()>>20)
	return g
}

func (g *memGateway) hwm() int64 { return vmHWM(g.t, g.gw.cmd.Process.Pid) }

type uploadAnswer struct {
	token      string
	code       int
	err        api.Error
	retryAfter string
	fail       error
}

// wantRefusal checks that an upload got 413, 400 or 503 with an error code.
func (a uploadAnswer) wantRefusal(t *testing.T, i int) {
	t.Helper()
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

// uploadAll opens eight flows and uploads img to each at once.
func (g *memGateway) uploadAll(img []byte, name string) []uploadAnswer {
	const uploads = 8
	answers := make([]uploadAnswer, uploads)
	for i := range answers {
		g.n++
		answers[i].token = newSession(g.t, g.ctx, g.partnerURL, fmt.Sprintf("%s%d", name, g.n)).Token
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	var wg sync.WaitGroup
	for i := range answers {
		a := &answers[i]
		wg.Go(func() {
			body, _ := json.Marshal(api.SubmissionRequest{Selfie: img, DeviceID: "kiosk-1", IdempotencyKey: fmt.Sprintf("%s-%d", name, i),
				DeviceLiveness: api.DeviceLiveness{Score: 0.9, Live: true, Model: "fr_liveness.onnx"}, CapturedAt: time.Now()})
			req, _ := http.NewRequestWithContext(g.ctx, http.MethodPost, g.url+api.PathSubmissions, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+a.token)
			resp, err := client.Do(req)
			if err != nil {
				a.fail = err
				return
			}
			defer resp.Body.Close()
			a.code, a.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
			if resp.StatusCode/100 != 2 {
				json.NewDecoder(resp.Body).Decode(&a.err)
			}
		})
	}
	wg.Wait()
	return answers
}

// bombReference submits a genuine selfie for user "bomb", whose reference
// is the bomb: the flow must end REFERENCE_UNAVAILABLE saying it is too
// large.
func (g *memGateway) bombReference(selfie []byte) {
	t := g.t
	s := newSession(t, g.ctx, g.partnerURL, "bomb")
	body, _ := json.Marshal(api.SubmissionRequest{Selfie: selfie, DeviceID: "kiosk-1", IdempotencyKey: "ref-bomb",
		DeviceLiveness: api.DeviceLiveness{Score: 0.9, Live: true, Model: "fr_liveness.onnx"}, CapturedAt: time.Now()})
	req, _ := http.NewRequestWithContext(g.ctx, http.MethodPost, g.url+api.PathSubmissions, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("genuine selfie: %d, want 202", resp.StatusCode)
	}
	st := waitFinal(t, g.ctx, g.url, s.Token)
	if st.Status != api.StatusRejected || st.Reason != api.ReasonReferenceUnavailable {
		t.Errorf("flow with a bomb reference: %+v, want REJECTED %s", st, api.ReasonReferenceUnavailable)
	}
	var ss partnerdemo.SessionState
	if err := getJSON(g.ctx, g.partnerURL+"/sessions/"+s.CorrelationID, &ss); err != nil {
		t.Errorf("details via the partner: %v", err)
	} else if ss.Details == nil || len(ss.Details.Attempts) != 1 || !strings.Contains(ss.Details.Attempts[0].Detail, "too large") {
		t.Errorf("details via the partner: %+v, want one attempt whose detail says too large", ss.Details)
	} else {
		t.Logf("reference detail: %s", ss.Details.Attempts[0].Detail)
	}
}

// checkPeak asserts the gateway's peak RSS stayed under maxGatewayHWM.
func (g *memGateway) checkPeak() {
	peak := g.hwm()
	g.t.Logf("gateway VmHWM at the end: %d MB (limit %d MB)", peak>>20, maxGatewayHWM>>20)
	if peak >= maxGatewayHWM {
		g.t.Errorf("gateway peak RSS %d MB, want < %d MB", peak>>20, maxGatewayHWM>>20)
	}
}

type process struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
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
	p := &process{log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
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
		case <-p.done:
			t.Fatalf("%s exited: %v\n%s", p.cmd.Args, p.err, p.log.String())
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
