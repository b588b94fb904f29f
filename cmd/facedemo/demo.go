package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/gateway/partnerdemo"
)

// errUnexpected marks a run whose decisions differ from the expected ones.
var errUnexpected = errors.New("a verification did not end as expected")

type options struct {
	Photos, Models, Bin string // Photos "" means the embedded demoPhotos
	Keep, Verbose       bool
	// Defaults drops the demo's faster status-poll settings (gateway
	// retry_after_ms and poll_interval, agent poll_initial), so the
	// product defaults apply: for latency measurements.
	Defaults bool
	// FPS is the replay camera's frame rate (0: the demo's 10).
	FPS float64
	// Warmup runs one unmeasured verification first (the camera sees the
	// reference photo itself: REJECTED, REFERENCE_REPLAY), so the first
	// measured one does not pay for the models' first calls.
	Warmup bool
	// Window is the agent's capture window (0: the demo's 2 s). An
	// emulated agent (armv7 under qemu-user) analyses one frame in seconds
	// and needs a longer one.
	Window time.Duration
	// Only, when non-empty, runs just the scenarios with these names.
	Only []string
	// Repeat runs the scenarios this many times (0 or 1: once); more
	// than once also prints their latency summary (timeline.go).
	Repeat int
	// Timeline reads the agent's timeline and the gateway's processing
	// stages of each verification, prints the timeline as a line and adds
	// the phases to the result and the summary (timeline.go).
	Timeline bool
}

// demoLatencyOverrides are the lines Defaults drops from the configs.
var demoLatencyOverrides = []string{"retry_after_ms = 300\n", "poll_interval = \"100ms\"\n", "poll_initial = \"300ms\"\n"}

// tune applies o's Defaults and FPS to a generated config.
func (o options) tune(cfg string) string {
	if o.Defaults {
		for _, l := range demoLatencyOverrides {
			cfg = strings.Replace(cfg, l, "", 1)
		}
	}
	if o.FPS > 0 {
		cfg = strings.Replace(cfg, "\nfps = 10\n", fmt.Sprintf("\nfps = %g\n", o.FPS), 1)
	}
	if o.Window > 0 {
		cfg = strings.Replace(cfg, "\nwindow = \"2s\"\n", fmt.Sprintf("\nwindow = %q\n", o.Window.String()), 1)
	}
	return cfg
}

// demoPhotos is the demo's own photo set (cmd/facedemo/photos): the four
// files named by references and scenarios, public-domain photos of public
// figures and the Apache-2.0 print-attack sample, with their sources and
// licences in photos/NOTICE.md. Embedding them lets bin/facedemo run from
// any directory of a plain clone; -photos points at another folder laid out
// the same way (identity/, liveness/).
//
//go:embed photos
var demoPhotos embed.FS

// scenario is one verification: the photo the camera sees, the partner user
// whose reference it is checked against, and the expected outcome.
type scenario struct {
	Name       string
	Selfie     string // relative to the photo folder
	UserID     string // partner user id; the reference is references/<UserID>.jpg
	WantStatus string
	WantReason string
}

var references = map[string]string{"person_a": "identity/person_a_01.jpg"}

var scenarios = []scenario{
	{"genuine", "identity/person_a_02.jpg", "person_a", api.StatusVerified, ""},
	{"impostor", "identity/person_b_01.jpg", "person_a", api.StatusRejected, api.ReasonFaceMismatch},
	{"presentation attack", "liveness/spoof_print_01.jpg", "person_a", api.StatusRejected, api.ReasonLivenessFailed},
}

// warmup is the -warmup verification: the reference photo itself in front
// of the camera, a copy the gateway refuses.
var warmup = scenario{"warm-up", references["person_a"], "person_a", api.StatusRejected, api.ReasonReferenceReplay}

// result is the JSON line printed for each verification.
type result struct {
	Scenario      string   `json:"scenario"`
	CorrelationID string   `json:"correlation_id"`
	Status        string   `json:"status"`
	Reason        string   `json:"reason,omitempty"`
	Similarity    *float64 `json:"similarity"`
	Liveness      *float64 `json:"liveness"`
	Attempts      int      `json:"attempts"`
	AgentStatus   string   `json:"agent_status"`
	ElapsedMS     int64    `json:"elapsed_ms"`
	// ExitMS is the agent's own command → final answer time (its
	// session's elapsed_ms: from the launch to EXIT), without the
	// partner's calls and this program's polling.
	ExitMS   int64 `json:"exit_ms"`
	Expected bool  `json:"expected"`
	// Timing is the verification's phases (-timeline).
	Timing *timing `json:"timing,omitempty"`
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	for _, b := range []string{"faceagent", "facegateway"} {
		if _, err := os.Stat(filepath.Join(o.Bin, b)); err != nil {
			return fmt.Errorf("%s not built (run `make build`): %w", filepath.Join(o.Bin, b), err)
		}
	}
	if _, err := o.scenarios(); err != nil {
		return err
	}
	if o.Photos != "" {
		if err := checkPhotos(o.Photos); err != nil {
			return err
		}
	}
	modelsDir, err := filepath.Abs(o.Models)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "facedemo-")
	if err != nil {
		return err
	}
	if o.Keep {
		fmt.Fprintf(stderr, "facedemo: work directory %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	photos := filepath.Join(work, "photos")
	if o.Photos == "" {
		// The replay camera reads files, so the embedded set is written out.
		sub, _ := fs.Sub(demoPhotos, "photos")
		if err := os.CopyFS(photos, sub); err != nil {
			return fmt.Errorf("write the demo photos: %w", err)
		}
	} else if photos, err = filepath.Abs(o.Photos); err != nil {
		return err
	}

	// Reference photos the partner holds, and the "scene" the replay camera sees.
	refs := filepath.Join(work, "references")
	scene := filepath.Join(work, "scene")
	for _, d := range []string{refs, scene} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	// The partner serves references from inside its folder only (no
	// symlinks out of it), so they are copied into the work directory.
	for user, rel := range references {
		b, err := os.ReadFile(filepath.Join(photos, rel))
		if err != nil {
			return fmt.Errorf("reference photo: %w", err)
		}
		if err := os.WriteFile(filepath.Join(refs, user+filepath.Ext(rel)), b, 0o600); err != nil {
			return err
		}
	}

	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	brokerAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	gatewayURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	partnerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[2])
	agentURL := fmt.Sprintf("http://127.0.0.1:%d", ports[3])
	const deviceID = "kiosk-demo-1"

	passkey, secret, enrollToken := randomHex(24), randomHex(32), randomHex(24)
	gwCfg := filepath.Join(work, "facegateway.toml")
	gwTOML := gatewayTOML
	if o.Warmup {
		// The warm-up's failure adds to the impostor's and the attack's
		// toward person_a's lockout: lift it for the run.
		gwTOML += warmupTOML
	}
	if err := os.WriteFile(gwCfg, []byte(o.tune(fmt.Sprintf(gwTOML,
		ports[1], filepath.Join(work, "facegateway.db"), modelsDir, brokerAddr, gateway.HashPasskey(passkey), partnerURL, partnerURL))), 0o600); err != nil {
		return err
	}
	agCfg := filepath.Join(work, "faceagent.toml")
	if err := os.WriteFile(agCfg, []byte(o.tune(fmt.Sprintf(agentTOML,
		deviceID, ports[3], scene, "tcp://"+brokerAddr, filepath.Join(work, "state", "mqtt"), modelsDir,
		filepath.Join(work, "state", "spool"), filepath.Join(work, "state", "spool.key"), filepath.Join(work, "state", "device.key")))), 0o600); err != nil {
		return err
	}

	env := append(os.Environ(),
		"FACEPARTNER_PASSKEY="+passkey,                     // the sample partner's; the gateway holds its hash
		"FACEGATEWAY_PARTNER_DEMO_CALLBACK_SECRET="+secret, // the demo partner's own callback key
		"FACEGATEWAY_PARTNER_DEMO_CALLBACK_KEY_ID=demo-1",
		"FACEGATEWAY_ENROLL_TOKEN="+enrollToken, // the gateway requires device signatures
		"FACEAGENT_ENROLL_TOKEN="+enrollToken,
	)
	procs := &group{work: work, verbose: o.Verbose, stderr: stderr}
	defer procs.stop()

	fmt.Fprintf(stderr, "facedemo: starting gateway %s (embedded MQTT broker tcp://%s), sample partner %s and agent %s\n",
		gatewayURL, brokerAddr, partnerURL, agentURL)
	fmt.Fprintf(stderr, "facedemo: watch with: mosquitto_sub -h 127.0.0.1 -p %s -v -t 'faceverify/#'\n", brokerAddr[strings.LastIndex(brokerAddr, ":")+1:])
	if err := procs.start(ctx, "gateway", env, filepath.Join(o.Bin, "facegateway"), "serve", "-config", gwCfg); err != nil {
		return err
	}
	if err := waitHealthy(ctx, gatewayURL+"/healthz", procs); err != nil {
		return err
	}
	if err := procs.start(ctx, "partner", env, filepath.Join(o.Bin, "facegateway"), "partner",
		"-listen", strings.TrimPrefix(partnerURL, "http://"), "-gateway", gatewayURL, "-client-id", "demo", "-references", refs); err != nil {
		return err
	}
	if err := waitHealthy(ctx, partnerURL+"/healthz", procs); err != nil {
		return err
	}

	// Watch the fleet topics before the agent comes up, so its retained
	// online status and every event are seen.
	printer := &linePrinter{w: stdout}
	sub, err := subscribe(ctx, "tcp://"+brokerAddr, printer)
	if err != nil {
		return err
	}
	defer sub.Disconnect(250)

	// Register the kiosk's device key with the gateway, as an installer would.
	enroll := exec.CommandContext(ctx, filepath.Join(o.Bin, "faceagent"), "enroll", "-config", agCfg,
		"-gateway", gatewayURL, "-label", "facedemo")
	enroll.Env = env
	if out, err := enroll.CombinedOutput(); err != nil {
		return fmt.Errorf("faceagent enroll: %w: %s", err, out)
	}
	if err := procs.start(ctx, "agent", env, filepath.Join(o.Bin, "faceagent"), "run", "-config", agCfg); err != nil {
		return err
	}
	if err := waitHealthy(ctx, agentURL+"/healthz", procs); err != nil {
		return err
	}

	var failed []string
	var results []result
	run, err := o.scenarios()
	if err != nil {
		return err
	}
	if n := o.Repeat; n > 1 {
		once := run
		for range n - 1 {
			run = append(run, once...)
		}
	}
	if o.Warmup {
		run = append([]scenario{warmup}, run...)
	}
	urls := endpoints{partner: partnerURL, agent: agentURL, gateway: gatewayURL}
	seen := map[string]bool{}
	for _, sc := range run {
		if seen[sc.Name] {
			// The gateway refuses a selfie that repeats one of another
			// flow (SUBMISSION_REPLAY): erase the user, flows and selfie
			// hashes with them, as the partner may, so a repeat measures
			// the scenario and not the refusal.
			if err := eraseUser(ctx, gatewayURL, passkey, sc.UserID); err != nil {
				return fmt.Errorf("%s: before repeating: %w", sc.Name, err)
			}
		}
		seen[sc.Name] = true
		r, err := verify(ctx, sc, photos, scene, urls, o.Timeline, printer)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.Name, err)
		}
		results = append(results, r)
		if !r.Expected {
			failed = append(failed, fmt.Sprintf("%s: got %s/%s, want %s/%s", sc.Name, r.Status, r.Reason, sc.WantStatus, sc.WantReason))
		}
	}
	for _, r := range results {
		b, _ := json.Marshal(r)
		printer.println(string(b))
	}
	if o.Repeat > 1 || o.Timeline {
		var b strings.Builder
		summarize(&b, results)
		printer.println(strings.TrimRight(b.String(), "\n"))
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %s", errUnexpected, strings.Join(failed, "; "))
	}
	printer.println(fmt.Sprintf("facedemo: all %d verifications ended as expected", len(results)))
	return nil
}

// scenarios returns the scenarios o.Only names (all when empty), in the
// demo's order, or an error naming an unknown one.
func (o options) scenarios() ([]scenario, error) {
	if len(o.Only) == 0 {
		return scenarios, nil
	}
	var out []scenario
	for _, name := range o.Only {
		i := slices.IndexFunc(scenarios, func(sc scenario) bool { return sc.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("-only: unknown scenario %q (have genuine, impostor, presentation attack)", name)
		}
		out = append(out, scenarios[i])
	}
	return out, nil
}

// photoFiles lists the files a photo folder must hold, relative to it: the
// references, then each scenario's selfie.
func photoFiles() []string {
	var files []string
	for _, user := range slices.Sorted(maps.Keys(references)) {
		files = append(files, references[user])
	}
	for _, sc := range scenarios {
		files = append(files, sc.Selfie)
	}
	return files
}

// checkPhotos returns an error naming every file of photoFiles that dir
// lacks, so a -photos folder is refused before anything starts.
func checkPhotos(dir string) error {
	var missing []string
	for _, rel := range photoFiles() {
		if _, err := os.Stat(filepath.Join(dir, rel)); err != nil {
			missing = append(missing, rel)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("photo folder %s lacks %s (the demo needs %s; without -photos / PHOTOS it uses its own photos)",
			dir, strings.Join(missing, ", "), strings.Join(photoFiles(), ", "))
	}
	return nil
}

// endpoints are the base URLs of the demo's services.
type endpoints struct{ partner, agent, gateway string }

// verify runs one scenario the way a partner and its kiosk app would; with
// timed, it also reads the agent's timeline and the gateway's processing
// stages of the verification.
func verify(ctx context.Context, sc scenario, photos, scene string, urls endpoints, timed bool, p *linePrinter) (result, error) {
	partnerURL, agentURL := urls.partner, urls.agent
	// Put the scenario's photo in front of the replay camera.
	old, _ := filepath.Glob(filepath.Join(scene, "*"))
	for _, f := range old {
		os.Remove(f)
	}
	if err := os.Symlink(filepath.Join(photos, sc.Selfie), filepath.Join(scene, "frame"+filepath.Ext(sc.Selfie))); err != nil {
		return result{}, err
	}
	p.println(fmt.Sprintf("--- %s: camera sees %s, reference is %s", sc.Name, sc.Selfie, sc.UserID))

	var stagesBefore map[string]float64
	if timed {
		var err error
		if stagesBefore, err = gatewayStageSums(ctx, urls.gateway); err != nil {
			return result{}, err
		}
	}
	start := time.Now()
	var sess partnerdemo.Session
	if err := postJSON(ctx, partnerURL+partnerdemo.PathSessions, partnerdemo.SessionRequest{
		PartnerUserID: sc.UserID, PartnerUserIDType: "account", Flow: api.FlowSelfie,
	}, &sess); err != nil {
		return result{}, fmt.Errorf("partner: start session: %w", err)
	}
	// The kiosk app launches the agent with what the partner handed it.
	launch := map[string]string{"token": sess.Token, "correlationId": sess.CorrelationID, "baseURL": sess.BaseURL,
		"expiresAt": sess.ExpiresAt.Format(time.RFC3339)}
	if err := postJSON(ctx, agentURL+"/v1/verify", launch, nil); err != nil {
		return result{}, fmt.Errorf("agent: launch: %w", err)
	}
	// Wait until the agent has its final answer and the partner has
	// received the gateway's completion callback.
	deadline := deadlineAfter(ctx, 3*time.Minute)
	var st partnerdemo.SessionState
	var view struct {
		SessionID string `json:"session_id"`
		Status    string `json:"status"`
		Reason    string `json:"reason"`
		ElapsedMS int64  `json:"elapsed_ms"`
	}
	for {
		if err := getJSON(ctx, agentURL+"/v1/session", &view); err != nil {
			return result{}, fmt.Errorf("agent: session: %w", err)
		}
		if view.Status == "FAILED" || view.Status == "CANCELLED" {
			return result{}, fmt.Errorf("agent session ended locally: %s %s", view.Status, view.Reason)
		}
		st = partnerdemo.SessionState{}
		if err := getJSON(ctx, partnerURL+"/sessions/"+sess.CorrelationID, &st); err != nil {
			return result{}, fmt.Errorf("partner: session state: %w", err)
		}
		if view.Status != "" && st.CallbackReceived && st.Details != nil {
			break
		}
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("no final answer within %v", time.Since(start).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return result{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	d := st.Details
	r := result{
		Scenario: sc.Name, CorrelationID: sess.CorrelationID, Status: d.Status, Reason: d.Reason,
		Similarity: d.Scores.Similarity, Liveness: d.Scores.Liveness, Attempts: len(d.Attempts),
		ElapsedMS: time.Since(start).Milliseconds(), ExitMS: view.ElapsedMS, AgentStatus: view.Status,
	}
	r.Expected = r.Status == sc.WantStatus && r.Reason == sc.WantReason && r.AgentStatus == sc.WantStatus
	if !timed {
		return r, nil
	}
	t := timing{}
	marks, err := fetchTimeline(ctx, agentURL, view.SessionID)
	switch {
	case errors.Is(err, errNoTimeline):
	case err != nil:
		return result{}, fmt.Errorf("agent: %w", err)
	default:
		t = reduce(marks)
		p.println(timelineLine(sc.Name, marks))
	}
	after, err := gatewayStageSums(ctx, urls.gateway)
	if err != nil {
		return result{}, err
	}
	t.Gateway, t.Load1 = stageDiff(stagesBefore, after), loadAverage1()
	r.Timing = &t
	return r, nil
}

const gatewayTOML = `# generated by facedemo
listen = "127.0.0.1:%d"

[database]
driver = "sqlite"
path = %q

[verification]
max_attempts = 3
retry_after_ms = 300

[processing]
poll_interval = "100ms"

[callback]
initial_backoff = "200ms"

[inference]
models_dir = %q

[broker]
enabled = true
listen = %q

[devices]
require_signature = true

[[partners]]
client_id = "demo"
passkey_hashes = [%q]
reference_url = "%s/reference"
callback_url = "%s/callback"
flows = ["selfie"]
allow_private_network = true
`

// warmupTOML lifts the lockout for -warmup runs.
const warmupTOML = `
[limits.lockout]
failures = 100
window = "1m"
`

const agentTOML = `# generated by facedemo
[device]
id = %q

[api]
listen = "127.0.0.1:%d"

[capture]
source = "replay"
replay_path = %q
fps = 10
window = "2s"

[session]
result_hold = "500ms"

[mqtt]
broker = %q
state_dir = %q

[inference]
models_dir = %q

[spool]
dir = %q
key_file = %q

[identity]
key_file = %q
`

// group runs the demo's child processes and stops them with SIGTERM.
type group struct {
	work    string
	verbose bool
	stderr  io.Writer
	mu      sync.Mutex
	procs   []*child
}

type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func (g *group) start(ctx context.Context, name string, env []string, bin string, args ...string) error {
	logPath := filepath.Join(g.work, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out io.Writer = lf
	if g.verbose {
		out = io.MultiWriter(lf, &prefixWriter{w: g.stderr, prefix: name + " | "})
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		lf.Close()
		close(c.done)
	}()
	g.mu.Lock()
	g.procs = append(g.procs, c)
	g.mu.Unlock()
	return nil
}

// exited reports a child that stopped early, with the tail of its log.
func (g *group) exited() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.procs {
		select {
		case <-c.done:
			b, _ := os.ReadFile(c.log)
			if len(b) > 2000 {
				b = b[len(b)-2000:]
			}
			return fmt.Errorf("%s exited (%v); last log lines:\n%s", c.name, c.err, b)
		default:
		}
	}
	return nil
}

// stop sends SIGTERM to every child, newest first, and waits for each.
func (g *group) stop() {
	g.mu.Lock()
	procs := append([]*child(nil), g.procs...)
	g.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		c := procs[i]
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
}

// deadlineAfter is d from now, or ctx's deadline when that is later (a
// caller that allows more time, e.g. a test on a busy machine).
func deadlineAfter(ctx context.Context, d time.Duration) time.Time {
	deadline := time.Now().Add(d)
	if c, ok := ctx.Deadline(); ok && c.After(deadline) {
		deadline = c
	}
	return deadline
}

func waitHealthy(ctx context.Context, url string, g *group) error {
	start := time.Now()
	deadline := deadlineAfter(ctx, 60*time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := g.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %v", url, time.Since(start).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// eraseUser erases the demo partner's user userID on the gateway
// (DELETE /v1/users/{partner_user_id} with a partner token).
func eraseUser(ctx context.Context, gatewayURL, passkey, userID string) error {
	var tr api.TokenResponse
	if err := postJSON(ctx, gatewayURL+api.PathToken, api.TokenRequest{ClientID: "demo", Passkey: passkey}, &tr); err != nil {
		return fmt.Errorf("partner token: %w", err)
	}
	u := gatewayURL + strings.Replace(api.PathUsers, "{partner_user_id}", url.PathEscape(userID), 1) + "?partner_user_id_type=account"
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tr.PartnerToken)
	if err := do(req, nil); err != nil {
		return fmt.Errorf("erase user: %w", err)
	}
	return nil
}

func postJSON(ctx context.Context, url string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return do(req, out)
}

func getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	return do(req, out)
}

func do(req *http.Request, out any) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(body))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

// subscribe prints every status and event message of the fleet topics.
func subscribe(ctx context.Context, broker string, p *linePrinter) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker(broker).SetClientID("facedemo-watch-" + randomHex(4)).
		SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(o)
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("mqtt connect %s: %v", broker, t.Error())
	}
	for _, topic := range []string{"faceverify/+/status", "faceverify/+/events"} {
		t := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
			p.println(fmt.Sprintf("mqtt %s %s", m.Topic(), m.Payload()))
			if line := nextActionLine(m.Payload()); line != "" {
				p.println(line)
			}
		})
		if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			c.Disconnect(0)
			return nil, fmt.Errorf("mqtt subscribe %s: %v", topic, t.Error())
		}
	}
	return c, nil
}

// linePrinter serialises whole lines from several goroutines.
type linePrinter struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *linePrinter) println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, s)
}

type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (pw *prefixWriter) Write(b []byte) (int, error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			fmt.Fprint(pw.w, pw.prefix+line)
		}
	}
	return len(b), nil
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// nextActionLine renders an agent event that a gateway answer caused
// (mqttapi.Event.NextAction) as one readable line, e.g.
// "next action RETRY correlation_id=… state=capturing attempt=2"; other
// payloads give "".
func nextActionLine(payload []byte) string {
	var ev mqttapi.Event
	if json.Unmarshal(payload, &ev) != nil || ev.NextAction == "" {
		return ""
	}
	line := fmt.Sprintf("next action %s correlation_id=%s state=%s attempt=%d", ev.NextAction, ev.CorrelationID, ev.State, ev.Attempt)
	if ev.Reason != "" {
		line += " reason=" + ev.Reason
	}
	return line
}
