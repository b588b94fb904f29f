package attack

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", as gateway/sqlitestore

	"github.com/faceverify/faceverify/agent/identity"
	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/internal/testenv"
	"github.com/faceverify/faceverify/models"
)

// Partners configured in every Stack.
const (
	// PartnerA is served by the real sample partner process
	// (`facegateway partner`): reference photos from Stack.RefDir,
	// callbacks verified with the callback secret.
	PartnerA = "bank"
	// PartnerB is served in-process by Stack.Fake, whose reference answer
	// a row can replace (an attacker-controlled or compromised partner
	// API) and which records the callbacks it receives.
	PartnerB = "other"
)

// Deadlines. They bound waits on events (readiness, a decision); they are
// generous so that the suite holds with both cores busy.
const (
	readyTimeout    = 2 * time.Minute // a process answers /healthz (model loading)
	decisionTimeout = 3 * time.Minute // a submission is decided
	stopTimeout     = time.Minute     // a process exits after SIGTERM
	pollEvery       = 50 * time.Millisecond
)

// Set by TestMain.
var (
	repoRoot   string // directory holding go.mod
	photosDir  string // ../shared/testdata
	modelsDir  string // <repo>/models
	gatewayBin string // the facegateway binary built for this run
	agentBin   string // the faceagent binary built for this run
	skipReason string // non-empty: every Stack skips its test with it
	// missingPhotos: skipReason is the absent ../shared/testdata, which CI
	// must have (testenv.Missing fails the test there).
	missingPhotos bool
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if testing.Short() {
		skipReason = "attack suite skipped in -short mode (it starts the real gateway and partner processes)"
		return m.Run()
	}
	root, err := findRepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "attack:", err)
		return 1
	}
	repoRoot = root
	photosDir = filepath.Join(root, "..", "shared", "testdata")
	modelsDir = filepath.Join(root, "models")
	if _, err := os.Stat(filepath.Join(photosDir, "identity")); err != nil {
		skipReason = fmt.Sprintf("labelled photos not found: ../shared/testdata (%v)", err)
		missingPhotos = true
		return m.Run()
	}
	man, err := models.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "attack: models manifest:", err)
		return 1
	}
	if err := man.Verify(modelsDir, "fr_detect.onnx", "fr_feature.onnx", "fr_liveness.onnx", models.ORTLibrary()); err != nil {
		skipReason = fmt.Sprintf("models not fetched (run `make models`): %v", err)
		return m.Run()
	}
	bin, err := os.MkdirTemp("", "faceverify-attack-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "attack:", err)
		return 1
	}
	defer os.RemoveAll(bin)
	build := exec.Command("go", buildArgs(bin+string(filepath.Separator), "./cmd/facegateway", "./cmd/faceagent")...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "attack: go %s: %v\n%s", strings.Join(build.Args[1:], " "), err, out)
		return 1
	}
	gatewayBin = filepath.Join(bin, "facegateway")
	agentBin = filepath.Join(bin, "faceagent")
	code := m.Run()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "attack: shared stack:", err)
			code = 1
		}
		os.RemoveAll(shared.Dir)
	}
	return code
}

// skipIfUnavailable skips t when the suite cannot run here (in CI, missing
// photos fail it instead: .ci/run provides them).
func skipIfUnavailable(t testing.TB) {
	t.Helper()
	switch {
	case missingPhotos:
		testenv.Missing(t, "%s", skipReason)
	case skipReason != "":
		t.Skip(skipReason)
	}
}

func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// Stack is one running gateway (`facegateway serve`, SQLite in Dir) with
// the sample partner process for PartnerA and the in-process Fake for
// PartnerB. Get one with Shared (one stack for the whole run: use unique
// correlation ids, your own devices, and change no global state) or Start
// (a private stack for this test, e.g. with an edited config, restarts,
// memory measurements).
type Stack struct {
	URL        string       // gateway base URL, "http://127.0.0.1:PORT"
	PartnerURL string       // sample partner process (PartnerA) base URL
	Fake       *FakePartner // PartnerB's reference and callback endpoints
	Dir        string       // work directory: config, database, logs, references
	DBPath     string       // the gateway's SQLite database file
	ConfigPath string       // the gateway's TOML config as last written
	RefDir     string       // reference photos of both partners: <partner_user_id>.jpg
	// Config is the gateway configuration as last written, secrets
	// excluded (they are passed in the environment, see Env).
	Config gateway.Config
	// Device is a device registered at start, for rows that need any
	// signing kiosk; rows that revoke or otherwise spend a device make
	// their own with NewDevice.
	Device *identity.Identity
	// Env holds the secrets given to both processes (NAME=value):
	// partner passkeys (read by the sample partner; the gateway's config
	// holds their hashes), each partner's callback key, enrollment token. Append
	// before Restart to pass more.
	Env []string
	// Passkeys maps a partner client id to its passkey.
	Passkeys map[string]string
	// CallbackKeys maps a partner client id to its own callback key (key
	// id and secret), given to the gateway and the partner process in Env.
	CallbackKeys map[string]api.CallbackKey
	EnrollToken  string

	client  *http.Client
	gw      *proc
	partner *proc

	mu       sync.Mutex
	tokens   map[string]string // partner token cache by client id
	db       *sql.DB
	genuine  int // next entry of genuinePairs
	stopOnce sync.Once
	stopErr  error
}

var (
	sharedOnce sync.Once
	shared     *Stack
	sharedErr  error
)

// Shared returns the stack shared by the whole run (started on first use,
// stopped with SIGTERM after the last test), or skips t when the suite
// cannot run here. Logs of its processes written during t are added to
// t's log if t fails.
func Shared(t testing.TB) *Stack {
	t.Helper()
	skipIfUnavailable(t)
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "faceverify-attack-shared-")
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = newStack(dir, nil)
		if sharedErr != nil {
			os.RemoveAll(dir)
			shared = nil
		}
	})
	if sharedErr != nil {
		t.Fatalf("start shared stack: %v", sharedErr)
	}
	shared.logsOnFailure(t)
	return shared
}

// Start starts a private stack for t, with edit (may be nil) applied to the
// gateway config before it is written. At cleanup both processes get
// SIGTERM and must exit with status 0; their logs are added to t's log if
// t failed. Skips t when the suite cannot run here.
func Start(t testing.TB, edit func(*gateway.Config)) *Stack {
	t.Helper()
	skipIfUnavailable(t)
	s, err := newStack(t.TempDir(), edit)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	s.logsOnFailure(t)
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// references are the reference photos in RefDir, by partner user id.
var references = map[string]string{
	"person_a": "identity/person_a_01.jpg",
	"person_b": "identity/person_b_01.jpg",
	"person_c": "identity/person_c_01.jpg",
	"person_d": "identity/person_d_01.jpg",
}

// genuinePairs are selfies of the user whose reference is in RefDir, each
// a different photo of that person, all VERIFIED by the gateway.
var genuinePairs = []struct{ User, Selfie string }{
	{"person_a", "identity/person_a_02.jpg"},
	{"person_b", "identity/person_b_02.jpg"},
	{"person_a", "identity/person_a_04.jpg"},
	{"person_d", "identity/person_d_02.jpg"},
	{"person_a", "identity/person_a_03.jpg"},
}

func newStack(dir string, edit func(*gateway.Config)) (*Stack, error) {
	s := &Stack{
		Dir:        dir,
		DBPath:     filepath.Join(dir, "gateway.db"),
		ConfigPath: filepath.Join(dir, "facegateway.toml"),
		RefDir:     filepath.Join(dir, "references"),
		Passkeys:   map[string]string{PartnerA: randomHex(24), PartnerB: randomHex(24)},
		CallbackKeys: map[string]api.CallbackKey{
			PartnerA: {ID: PartnerA + "-k1", Secret: []byte(randomHex(32))},
			PartnerB: {ID: PartnerB + "-k1", Secret: []byte(randomHex(32))},
		},
		EnrollToken: randomHex(24),
		client: &http.Client{
			Timeout:       2 * time.Minute,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		tokens: map[string]string{},
	}
	if err := os.MkdirAll(s.RefDir, 0o700); err != nil {
		return nil, err
	}
	for user, rel := range references {
		b, err := os.ReadFile(filepath.Join(photosDir, rel))
		if err != nil {
			return nil, fmt.Errorf("reference photo: %w", err)
		}
		if err := os.WriteFile(filepath.Join(s.RefDir, user+filepath.Ext(rel)), b, 0o600); err != nil {
			return nil, err
		}
	}
	s.Fake = newFakePartner(s.RefDir)
	ports, err := freePorts(2)
	if err != nil {
		s.Fake.close()
		return nil, err
	}
	s.URL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	s.PartnerURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	s.Env = []string{
		gateway.PartnerPasskeyEnv(PartnerA) + "=" + s.Passkeys[PartnerA],
		gateway.PartnerPasskeyEnv(PartnerB) + "=" + s.Passkeys[PartnerB],
		gateway.EnvEnrollToken + "=" + s.EnrollToken,
	}
	for _, p := range []string{PartnerA, PartnerB} { // each partner its own callback key
		k := s.CallbackKeys[p]
		s.Env = append(s.Env, gateway.PartnerCallbackSecretEnv(p)+"="+string(k.Secret), gateway.PartnerCallbackKeyIDEnv(p)+"="+k.ID)
	}

	cfg := gateway.DefaultConfig()
	cfg.Listen = strings.TrimPrefix(s.URL, "http://")
	cfg.ShutdownTimeout = 20 * time.Second
	cfg.Database = gateway.DatabaseConfig{Driver: gateway.DriverSQLite, Path: s.DBPath}
	cfg.Verification.RetryAfterMS = 100
	cfg.Processing.PollInterval = 100 * time.Millisecond
	cfg.Reference.Retries = 1
	cfg.Reference.RetryBackoff = 100 * time.Millisecond
	cfg.Callback.InitialBackoff = 200 * time.Millisecond
	cfg.Limits.MaxSelfieBytes = 2 << 20 // the photos are < 1 MB; oversized rows stay cheap
	// The suite's genuine selfies are whole photos (up to 3500×2333), not
	// the agent's crops of at most 640 px a side.
	cfg.Limits.MaxSelfiePixels = 10_000_000
	cfg.Inference.ModelsDir = modelsDir
	cfg.Devices.RequireSignature = true
	// Rows of every topic share one source address, users and s.Device,
	// and some send hundreds of malformed requests: the rate limits and
	// the lockout are lifted here; the brute-force rows
	// (bruteforce_test.go) run private stacks with the defaults.
	for _, l := range []*gateway.RateLimit{&cfg.Limits.Rate.TokenClient, &cfg.Limits.Rate.TokenSource,
		&cfg.Limits.Rate.EnrollSource, &cfg.Limits.Rate.SubmitFlow, &cfg.Limits.Rate.SubmitDevice, &cfg.Limits.Rate.InitiateClient} {
		*l = gateway.RateLimit{PerMinute: 60000, Burst: 10000}
	}
	cfg.Limits.Lockout.Failures = 100
	cfg.Partners = []gateway.PartnerConfig{
		// Both partners run on loopback: allow_private_network lets the
		// gateway's dial-time address check connect to them.
		{ClientID: PartnerA, PasskeyHashes: []string{gateway.HashPasskey(s.Passkeys[PartnerA])},
			ReferenceURL: s.PartnerURL + "/reference", CallbackURL: s.PartnerURL + "/callback",
			Flows: []string{api.FlowSelfie, api.FlowKTP}, AllowPrivateNetwork: true},
		{ClientID: PartnerB, PasskeyHashes: []string{gateway.HashPasskey(s.Passkeys[PartnerB])},
			ReferenceURL: s.Fake.URL + "/reference", CallbackURL: s.Fake.URL + "/callback",
			Flows: []string{api.FlowSelfie, api.FlowKTP}, AllowPrivateNetwork: true},
	}
	if edit != nil {
		edit(&cfg)
	}
	s.Config = cfg
	if err := s.writeConfig(); err != nil {
		s.Fake.close()
		return nil, err
	}
	if err := s.startGateway(); err != nil {
		s.Fake.close()
		return nil, err
	}
	s.partner, err = startProc(dir, "partner", s.Env, gatewayBin, "partner",
		"-listen", strings.TrimPrefix(s.PartnerURL, "http://"), "-gateway", s.URL,
		"-client-id", PartnerA, "-references", s.RefDir)
	if err == nil {
		err = s.waitReady(s.partner, s.PartnerURL)
	}
	if err == nil {
		s.Device, err = s.newDevice("kiosk-" + randomHex(4))
	}
	if err != nil {
		err = errors.Join(err, s.stop())
		return nil, err
	}
	return s, nil
}

// writeConfig writes s.Config as TOML to s.ConfigPath (0600).
func (s *Stack) writeConfig() error {
	var buf bytes.Buffer
	buf.WriteString("# written by the attack suite (test/attack)\n")
	if err := toml.NewEncoder(&buf).Encode(s.Config); err != nil {
		return fmt.Errorf("encode gateway config: %w", err)
	}
	return os.WriteFile(s.ConfigPath, buf.Bytes(), 0o600)
}

func (s *Stack) startGateway() error {
	gw, err := startProc(s.Dir, "gateway", s.Env, gatewayBin, "serve", "-config", s.ConfigPath)
	if err != nil {
		return err
	}
	s.gw = gw
	return s.waitReady(gw, s.URL)
}

// waitReady polls base+/healthz until it answers 200, the process exits,
// or readyTimeout passes.
func (s *Stack) waitReady(p *proc, base string) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		resp, err := s.client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); log:\n%s", p.name, p.err, p.tail(0))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready at %s/healthz after %v; log:\n%s", p.name, base, readyTimeout, p.tail(0))
		}
		select {
		case <-p.done:
		case <-time.After(pollEvery):
		}
	}
}

// Restart stops the gateway with SIGTERM (it must exit with status 0),
// applies edit (may be nil) to s.Config, rewrites the config and starts
// the gateway again on the same address and database. The sample partner
// keeps running. Only for stacks from Start.
func (s *Stack) Restart(t testing.TB, edit func(*gateway.Config)) {
	t.Helper()
	if s == shared {
		t.Fatal("Restart on the shared stack: use Start for a private one")
	}
	if err := s.gw.stop(); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&s.Config)
	}
	if err := s.writeConfig(); err != nil {
		t.Fatal(err)
	}
	if err := s.startGateway(); err != nil {
		t.Fatal(err)
	}
}

// stop sends SIGTERM to the gateway and the partner, waits for both and
// reports any that did not exit with status 0.
func (s *Stack) stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		s.mu.Lock()
		if s.db != nil {
			s.db.Close()
		}
		s.mu.Unlock()
		for _, p := range []*proc{s.partner, s.gw} {
			if p != nil {
				errs = append(errs, p.stop())
			}
		}
		if s.Fake != nil {
			s.Fake.close()
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// logsOnFailure adds what the processes log from now on to t's log if t
// fails.
func (s *Stack) logsOnFailure(t testing.TB) {
	gwFrom, pFrom := s.gw.size(), s.partner.size()
	gw, p := s.gw, s.partner
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		if s.gw != gw { // restarted: all of the new gateway's log
			gwFrom = 0
		}
		t.Logf("gateway log (%s):\n%s", s.gw.logPath, s.gw.tail(gwFrom))
		t.Logf("partner log (%s):\n%s", p.logPath, p.tail(pFrom))
	})
}

// PID is the gateway process id (e.g. for /proc/<pid>/status).
func (s *Stack) PID() int { return s.gw.cmd.Process.Pid }

// VmHWM returns the gateway's peak resident set size in bytes, from
// /proc/<pid>/status.
func (s *Stack) VmHWM(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.PID()))
	if err != nil {
		t.Fatalf("read gateway status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parse VmHWM %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// ---------------------------------------------------------------------
// HTTP

// Response is a gateway answer, read in full.
type Response struct {
	Code   int
	Header http.Header
	Body   []byte
}

// APIError decodes the body as api.Error (zero if it is not one).
func (r *Response) APIError() api.Error {
	var e api.Error
	json.Unmarshal(r.Body, &e)
	return e
}

// String is the status and body, for failure messages.
func (r *Response) String() string {
	return fmt.Sprintf("HTTP %d %s", r.Code, bytes.TrimSpace(r.Body))
}

// Do sends a request to the gateway: path is relative to s.URL, bearer (if
// not empty) goes in the Authorization header, header is added as is.
func (s *Stack) Do(t testing.TB, method, path, bearer string, header http.Header, body []byte) *Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	return &Response{Code: resp.StatusCode, Header: resp.Header, Body: b}
}

// jsonHeader is the Content-Type of every JSON request.
func jsonHeader() http.Header { return http.Header{"Content-Type": {"application/json"}} }

// PostJSON marshals v and POSTs it to path with bearer.
func (s *Stack) PostJSON(t testing.TB, path, bearer string, v any) *Response {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return s.Do(t, http.MethodPost, path, bearer, jsonHeader(), b)
}

// decode unmarshals a 2xx answer into v or fails t.
func decode(t testing.TB, r *Response, v any) {
	t.Helper()
	if r.Code/100 != 2 {
		t.Fatalf("want 2xx, got %s", r)
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

// PartnerToken returns a partner token for clientID (PartnerA, PartnerB),
// cached per stack.
func (s *Stack) PartnerToken(t testing.TB, clientID string) string {
	t.Helper()
	s.mu.Lock()
	tok := s.tokens[clientID]
	s.mu.Unlock()
	if tok != "" {
		return tok
	}
	var tr api.TokenResponse
	decode(t, s.PostJSON(t, api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: s.Passkeys[clientID]}), &tr)
	s.mu.Lock()
	s.tokens[clientID] = tr.PartnerToken
	s.mu.Unlock()
	return tr.PartnerToken
}

// Flow is an initiated verification.
type Flow struct {
	Partner string // client id
	User    string // partner user id
	api.InitiateResponse
}

// InitiateFlow starts a selfie flow of PartnerA for user with correlation
// id correlation, or fails t.
func (s *Stack) InitiateFlow(t testing.TB, user, correlation string) Flow {
	t.Helper()
	return s.InitiateFlowAs(t, PartnerA, user, correlation)
}

// InitiateFlowAs is InitiateFlow for partner clientID.
func (s *Stack) InitiateFlowAs(t testing.TB, clientID, user, correlation string) Flow {
	t.Helper()
	r := s.Initiate(t, clientID, api.InitiateRequest{PartnerUserID: user, PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: correlation})
	f := Flow{Partner: clientID, User: user}
	decode(t, r, &f.InitiateResponse)
	return f
}

// Initiate POSTs req to /v1/flows with clientID's partner token and
// returns the answer as is.
func (s *Stack) Initiate(t testing.TB, clientID string, req api.InitiateRequest) *Response {
	t.Helper()
	return s.PostJSON(t, api.PathFlows, s.PartnerToken(t, clientID), req)
}

// NewCorrelation returns a fresh correlation id with a readable prefix.
func NewCorrelation(prefix string) string { return prefix + "-" + randomHex(6) }

// NewDevice registers a fresh Ed25519 device key with `facegateway devices
// add` (the operator's tool, writing the database the gateway reads) and
// returns its identity.
func (s *Stack) NewDevice(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := s.newDevice("kiosk-" + randomHex(4))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (s *Stack) newDevice(deviceID string) (*identity.Identity, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	id := identity.New(deviceID, key)
	if out, err := s.cli("devices", "add", "-db", s.DBPath, "-id", deviceID, "-key", id.PublicKeyBase64(), "-label", "attack suite"); err != nil {
		return nil, fmt.Errorf("devices add: %w: %s", err, out)
	}
	return id, nil
}

// RevokeDevice revokes a device with `facegateway devices revoke`.
func (s *Stack) RevokeDevice(t testing.TB, deviceID string) {
	t.Helper()
	if out, err := s.cli("devices", "revoke", "-db", s.DBPath, "-id", deviceID); err != nil {
		t.Fatalf("devices revoke: %v: %s", err, out)
	}
}

// cli runs a facegateway subcommand with the stack's environment.
func (s *Stack) cli(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatewayBin, args...)
	cmd.Env = append(os.Environ(), s.Env...)
	return cmd.CombinedOutput()
}

// Submission builds a well-formed submission of selfie from dev: device
// liveness 0.99 (live), a fresh idempotency key, captured now. Rows edit
// the result before passing it to SubmitRequest.
func Submission(dev *identity.Identity, selfie []byte) api.SubmissionRequest {
	return api.SubmissionRequest{
		Selfie:         selfie,
		DeviceLiveness: api.DeviceLiveness{Score: 0.99, Live: true, Model: "fr_liveness.onnx"},
		DeviceID:       dev.DeviceID(),
		IdempotencyKey: "idem-" + randomHex(8),
		CapturedAt:     time.Now().UTC(),
	}
}

// SignedSubmit submits selfie on flow f, signed by dev the way the agent
// signs (agent/identity), with a fresh idempotency key.
func (s *Stack) SignedSubmit(t testing.TB, dev *identity.Identity, f Flow, selfie []byte) *Response {
	t.Helper()
	return s.SubmitRequest(t, dev, f, Submission(dev, selfie))
}

// SubmitRequest marshals req, signs the exact body with dev for f's
// correlation id and POSTs it with f's user token and req's idempotency
// key as the Idempotency-Key header.
func (s *Stack) SubmitRequest(t testing.TB, dev *identity.Identity, f Flow, req api.SubmissionRequest) *Response {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	h := s.SignedHeader(dev, f, body)
	if req.IdempotencyKey != "" {
		h.Set("Idempotency-Key", req.IdempotencyKey)
	}
	return s.Do(t, http.MethodPost, api.PathSubmissions, f.UserToken, h, body)
}

// SignedHeader is the JSON Content-Type plus dev's signature headers for
// body on flow f (agent/identity.Identity.Sign), for rows that send a
// hand-made body with Do.
func (s *Stack) SignedHeader(dev *identity.Identity, f Flow, body []byte) http.Header {
	h := dev.Sign(f.CorrelationID, time.Now(), body)
	h.Set("Content-Type", "application/json")
	return h
}

// Status GETs /v1/status with a user token; st is decoded on 200.
func (s *Stack) Status(t testing.TB, userToken string) (r *Response, st api.StatusResponse) {
	t.Helper()
	r = s.Do(t, http.MethodGet, api.PathStatus, userToken, nil, nil)
	if r.Code == http.StatusOK {
		decode(t, r, &st)
	}
	return r, st
}

// Details GETs a flow's details with clientID's partner token; d is
// decoded on 200.
func (s *Stack) Details(t testing.TB, clientID, correlation string) (r *Response, d api.SubmissionDetails) {
	t.Helper()
	return s.DetailsWith(t, s.PartnerToken(t, clientID), correlation)
}

// DetailsWith is Details with an explicit bearer token.
func (s *Stack) DetailsWith(t testing.TB, token, correlation string) (r *Response, d api.SubmissionDetails) {
	t.Helper()
	r = s.Do(t, http.MethodGet, strings.Replace(api.PathDetails, "{correlation_id}", url.PathEscape(correlation), 1), token, nil, nil)
	if r.Code == http.StatusOK {
		decode(t, r, &d)
	}
	return r, d
}

// WaitFinal polls f's details until the flow has a final decision
// (completed_at set) and returns them; fails t after decisionTimeout.
func (s *Stack) WaitFinal(t testing.TB, f Flow) api.SubmissionDetails {
	t.Helper()
	var d api.SubmissionDetails
	Eventually(t, decisionTimeout, "final decision of "+f.CorrelationID, func() bool {
		var r *Response
		r, d = s.Details(t, f.Partner, f.CorrelationID)
		if r.Code != http.StatusOK {
			t.Fatalf("details of %s: %s", f.CorrelationID, r)
		}
		return d.CompletedAt != nil
	})
	return d
}

// WaitAttempt polls f's status until its latest attempt is decided (status
// not PROCESSING) and returns it; fails t after decisionTimeout.
func (s *Stack) WaitAttempt(t testing.TB, f Flow) api.StatusResponse {
	t.Helper()
	var st api.StatusResponse
	Eventually(t, decisionTimeout, "decision of "+f.CorrelationID, func() bool {
		var r *Response
		r, st = s.Status(t, f.UserToken)
		if r.Code != http.StatusOK {
			t.Fatalf("status of %s: %s", f.CorrelationID, r)
		}
		return st.Status != api.StatusProcessing
	})
	return st
}

// Eventually calls cond every pollEvery until it returns true, failing t
// with what when timeout passes first. It waits on an event, with a
// deadline; it never assumes how long the event takes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pollEvery)
	}
}

// ---------------------------------------------------------------------
// Photos

// Photo returns a file of ../shared/testdata (path relative to it).
func Photo(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(photosDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FillerSelfie is a live face of nobody in RefDir (liveness/live_01.jpg):
// the "legitimate request afterwards" of rows that only check a
// submission is accepted and counted once, never that it verifies.
func FillerSelfie(t testing.TB) []byte { return Photo(t, "liveness/live_01.jpg") }

// Genuine returns a partner user id and a selfie of that user (another
// photo than the reference) which the gateway verifies. Each call on a
// stack returns a different selfie, so a stack never sees one twice;
// the pool holds len(genuinePairs) and t fails when it is spent (use a
// private stack).
func (s *Stack) Genuine(t testing.TB) (user string, selfie []byte) {
	t.Helper()
	s.mu.Lock()
	i := s.genuine
	s.genuine++
	s.mu.Unlock()
	if i >= len(genuinePairs) {
		t.Fatalf("genuine selfies of this stack spent (%d); use a private stack (Start)", len(genuinePairs))
	}
	return genuinePairs[i].User, Photo(t, genuinePairs[i].Selfie)
}

// ---------------------------------------------------------------------
// Database

// DB returns a connection to the gateway's SQLite database (closed when
// the stack stops), for checking what was or was not stored.
func (s *Stack) DB(t testing.TB) *sql.DB {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		db, err := sql.Open("sqlite", "file:"+s.DBPath+"?"+q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		s.db = db
	}
	return s.db
}

// Count returns SELECT count(*) FROM <from> (e.g. "submissions WHERE
// flow_id = ?").
func (s *Stack) Count(t testing.TB, from string, args ...any) int {
	t.Helper()
	var n int
	if err := s.DB(t).QueryRow("SELECT count(*) FROM "+from, args...).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", from, err)
	}
	return n
}

// FlowSubmissions counts the stored submissions of the flow with
// correlation id of partner clientID.
func (s *Stack) FlowSubmissions(t testing.TB, clientID, correlation string) int {
	t.Helper()
	return s.Count(t, "submissions WHERE flow_id IN (SELECT id FROM flows WHERE partner_id = ? AND correlation_id = ?)", clientID, correlation)
}

// ExpireToken sets the stored expiry of token (either kind) to at. The
// gateway has no test clock and refuses token lifetimes under a minute, so
// rows that need an expiry soon move it in the database and then wait for
// the gateway to refuse the token.
func (s *Stack) ExpireToken(t testing.TB, token string, at time.Time) {
	t.Helper()
	h := sha256.Sum256([]byte(token))
	res, err := s.DB(t).Exec("UPDATE tokens SET expires_at = ? WHERE hash = ?", at.UnixMicro(), h[:])
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("token not found in the database (%d rows)", n)
	}
}

// ---------------------------------------------------------------------
// Fake partner and canaries

// FakePartner is PartnerB's reference and callback API, in process. By
// default /reference answers api.ReferenceResponse JSON with the bytes of
// <partner_user_id>.jpg in RefDir (404 if none), like the sample partner;
// SetReference replaces that. /callback records every delivery.
type FakePartner struct {
	URL string

	srv       *httptest.Server
	refDir    string
	reference atomic.Pointer[http.HandlerFunc]
	refHits   atomic.Int64
	mu        sync.Mutex
	callbacks [][]byte
}

func newFakePartner(refDir string) *FakePartner {
	f := &FakePartner{refDir: refDir}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /reference", func(w http.ResponseWriter, r *http.Request) {
		f.refHits.Add(1)
		if h := f.reference.Load(); h != nil {
			(*h)(w, r)
			return
		}
		f.serveReference(w, r)
	})
	mux.HandleFunc("POST /callback", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		f.mu.Lock()
		f.callbacks = append(f.callbacks, b)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	f.srv = httptest.NewServer(mux)
	f.URL = f.srv.URL
	return f
}

func (f *FakePartner) serveReference(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("partner_user_id")
	if user == "" || strings.ContainsAny(user, `/\`) || strings.HasPrefix(user, ".") {
		http.NotFound(w, r)
		return
	}
	b, err := os.ReadFile(filepath.Join(f.refDir, user+".jpg"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(api.ReferenceResponse{Image: b})
}

// SetReference makes h answer the gateway's reference requests until the
// end of t (then the default answer is back).
func (f *FakePartner) SetReference(t testing.TB, h http.HandlerFunc) {
	f.reference.Store(&h)
	t.Cleanup(func() { f.reference.Store(nil) })
}

// ReferenceHits counts the reference requests received so far.
func (f *FakePartner) ReferenceHits() int64 { return f.refHits.Load() }

// Callbacks returns the bodies of the callbacks received so far.
func (f *FakePartner) Callbacks() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.callbacks...)
}

func (f *FakePartner) close() { f.srv.Close() }

// Canary is a loopback HTTP server that counts the requests it gets: the
// internal service an SSRF would reach. It answers a valid reference
// image, so that reaching it would make a difference.
type Canary struct {
	URL  string
	hits atomic.Int64
}

// Hits counts the requests the canary received.
func (c *Canary) Hits() int64 { return c.hits.Load() }

// NewCanary starts a Canary, closed at the end of t.
func NewCanary(t testing.TB) *Canary {
	t.Helper()
	img := Photo(t, references["person_a"])
	c := &Canary{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.hits.Add(1)
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(img)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// ---------------------------------------------------------------------
// Processes

// proc is a child process whose stdout and stderr go to a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	cancel  context.CancelFunc
	logPath string
	done    chan struct{}
	err     error // Wait's result, after done
}

func startProc(dir, name string, env []string, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...) // cancel kills: only after a failed SIGTERM
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		cancel()
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, cancel: cancel, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM and waits for the process; an exit status other than
// 0, or no exit within stopTimeout (then it is killed), is an error.
func (p *proc) stop() error {
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s had exited: %v; log:\n%s", p.name, p.err, p.tail(0))
		}
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.cancel()
		<-p.done
		return fmt.Errorf("%s did not exit within %v of SIGTERM; log:\n%s", p.name, stopTimeout, p.tail(0))
	}
	p.cancel()
	if p.err != nil {
		return fmt.Errorf("%s exit after SIGTERM: %v; log:\n%s", p.name, p.err, p.tail(0))
	}
	return nil
}

// size is the current length of the log.
func (p *proc) size() int64 {
	st, err := os.Stat(p.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// tail returns the log from offset from, at most its last 16 KiB.
func (p *proc) tail(from int64) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	if from > int64(len(b)) {
		from = 0
	}
	b = b[from:]
	if len(b) > 16<<10 {
		b = b[len(b)-16<<10:]
	}
	return string(b)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
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
	rand.Read(b)
	return hex.EncodeToString(b)
}

// mustJSON marshals v or fails t.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustKey returns a fresh Ed25519 key pair.
func mustKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// jsonDecode decodes one JSON value from r.
func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
