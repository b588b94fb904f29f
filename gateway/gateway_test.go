package gateway_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/sqlitestore"
	"github.com/faceverify/faceverify/inference"
)

const (
	clientID       = "acme"
	passkey        = "acme-passkey-0123456789"
	callbackSecret = "callback-secret-0123456789"
)

// fakePartner is a partner backend under test control: its reference API
// answers by Reference, its callback endpoint records what it receives.
type fakePartner struct {
	srv *httptest.Server

	mu        sync.Mutex
	reference func(w http.ResponseWriter, r *http.Request)
	refCalls  int
	callbacks []receivedCallback
	failNext  int // callback answers 500 this many times first
}

type receivedCallback struct {
	body      []byte
	signature string
	ok        bool // answered 2xx
}

func newFakePartner(t *testing.T) *fakePartner {
	p := &fakePartner{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /reference", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.refCalls++
		h := p.reference
		p.mu.Unlock()
		if h == nil {
			http.Error(w, "no reference", http.StatusNotFound)
			return
		}
		h(w, r)
	})
	mux.HandleFunc("POST /callback", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		defer p.mu.Unlock()
		rc := receivedCallback{body: body, signature: r.Header.Get(api.SignatureHeader)}
		if p.failNext > 0 {
			p.failNext--
			p.callbacks = append(p.callbacks, rc)
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		rc.ok = true
		p.callbacks = append(p.callbacks, rc)
		w.WriteHeader(http.StatusNoContent)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// serveImage makes the reference API answer JSON with the image bytes.
func (p *fakePartner) serveImage(img []byte) {
	p.setReference(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(api.ReferenceResponse{Image: img})
	})
}

func (p *fakePartner) setReference(h func(http.ResponseWriter, *http.Request)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reference = h
}

func (p *fakePartner) referenceCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refCalls
}

func (p *fakePartner) received() []receivedCallback {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]receivedCallback(nil), p.callbacks...)
}

// env is a running gateway with a fake analyzer and a fake partner.
type env struct {
	t        *testing.T
	cfg      gateway.Config
	dbPath   string
	analyzer *gatewaytest.Analyzer
	partner  *fakePartner
	url      string
	stop     func() // stops the gateway and waits for Serve to return
	clock    *clock
	gw       *gateway.Gateway // the running gateway (replaced by start)
	store    gateway.Store    // its store
	// deps, when set, adjusts the gateway's Deps before it starts.
	deps func(*gateway.Deps)
}

// clock is time.Now shifted by an adjustable offset; once frozen, it
// moves only by Advance.
type clock struct{ offset, frozen atomic.Int64 }

func (c *clock) Now() time.Time {
	if f := c.frozen.Load(); f != 0 {
		return time.Unix(0, f+c.offset.Load())
	}
	return time.Now().Add(time.Duration(c.offset.Load()))
}
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
func (c *clock) Freeze()                 { c.frozen.Store(time.Now().UnixNano()) }

func testConfig(t *testing.T, p *fakePartner) gateway.Config {
	cfg := gateway.DefaultConfig()
	cfg.Devices.RequireSignature = false // these tests submit unsigned
	cfg.Listen = "127.0.0.1:0"
	cfg.Database.Path = filepath.Join(t.TempDir(), "gw.db")
	cfg.Verification.RetryAfterMS = 50
	cfg.Processing.PollInterval = 20 * time.Millisecond
	// Leases are measured on the env's clock: a claim expires only when a
	// test advances it (env.clock.Advance), never because a loaded machine
	// made processing slow. The reference timeout is generous for the same
	// reason; the case that tests timeouts sets its own.
	cfg.Processing.Lease = time.Minute
	cfg.Reference.Timeout = 10 * time.Second
	cfg.Reference.RetryBackoff = 10 * time.Millisecond
	cfg.Reference.Retries = 2
	cfg.Callback.Secret = callbackSecret
	cfg.Audit.Key = testAuditSecret
	cfg.Callback.InitialBackoff = 20 * time.Millisecond
	cfg.Callback.MaxBackoff = 100 * time.Millisecond
	gatewaytest.NoRateLimits(&cfg.Limits.Rate)
	cfg.Partners = []gateway.PartnerConfig{
		{ClientID: clientID, PasskeyHashes: []string{gatewaytest.PasskeyHash(passkey)}, ReferenceURL: p.srv.URL + "/reference", CallbackURL: p.srv.URL + "/callback", Flows: []string{api.FlowSelfie, api.FlowKTP}, AllowPrivateNetwork: true},
		{ClientID: "selfie-only", PasskeyHashes: []string{gatewaytest.PasskeyHash("selfie-only-passkey-01")}, ReferenceURL: p.srv.URL + "/reference", Flows: []string{api.FlowSelfie}, AllowPrivateNetwork: true},
	}
	return cfg
}

func newEnv(t *testing.T, mutate ...func(*gateway.Config)) *env {
	t.Helper()
	p := newFakePartner(t)
	e := &env{t: t, analyzer: gatewaytest.NewAnalyzer(), partner: p, clock: &clock{}}
	e.cfg = testConfig(t, p)
	for _, m := range mutate {
		m(&e.cfg)
	}
	e.dbPath = e.cfg.Database.Path
	e.start()
	return e
}

// start runs a gateway over the env's database.
func (e *env) start() {
	t := e.t
	t.Helper()
	store, err := sqlitestore.Open(context.Background(), e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	deps := gateway.Deps{Store: store, Analyzer: e.analyzer, Now: e.clock.Now}
	if e.deps != nil {
		e.deps(&deps)
	}
	gw, err := gateway.New(e.cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	e.gw, e.store = gw, store
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			store.Close()
		})
	}
	t.Cleanup(e.stop)
}

// do makes an API call and decodes a 2xx body into out (when non-nil).
func (e *env) do(method, path, token string, body any, hdr map[string]string, out any) (int, api.Error) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			b, _ = json.Marshal(body)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var apiErr api.Error
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(data, &apiErr); err != nil || apiErr.Code == "" {
			e.t.Fatalf("%s %s: %d with non-api.Error body %q", method, path, resp.StatusCode, data)
		}
		return resp.StatusCode, apiErr
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, apiErr
}

func (e *env) partnerToken() string {
	e.t.Helper()
	var tr api.TokenResponse
	if code, ae := e.do("POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: passkey}, nil, &tr); code != 200 {
		e.t.Fatalf("token: %d %+v", code, ae)
	}
	return tr.PartnerToken
}

var flowSeq atomic.Int64

// initiate opens a flow for user and returns the user token and correlation id.
func (e *env) initiate(user string) (string, string) {
	e.t.Helper()
	cid := fmt.Sprintf("corr-%d", flowSeq.Add(1))
	var ir api.InitiateResponse
	code, ae := e.do("POST", api.PathFlows, e.partnerToken(), api.InitiateRequest{
		PartnerUserID: user, PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: cid}, nil, &ir)
	if code != http.StatusCreated {
		e.t.Fatalf("initiate: %d %+v", code, ae)
	}
	return ir.UserToken, cid
}

func selfie(c color.RGBA, key string) api.SubmissionRequest {
	return api.SubmissionRequest{
		Selfie:         gatewaytest.PNG(c),
		DeviceLiveness: api.DeviceLiveness{Score: 0.9, Live: true, Model: "fr_liveness.onnx"},
		DeviceID:       "kiosk-1",
		IdempotencyKey: key,
		CapturedAt:     time.Now(),
	}
}

func (e *env) submit(tok string, req api.SubmissionRequest) (int, api.SubmissionResponse, api.Error) {
	e.t.Helper()
	var sr api.SubmissionResponse
	code, ae := e.do("POST", api.PathSubmissions, tok, req, nil, &sr)
	return code, sr, ae
}

func (e *env) status(tok string) api.StatusResponse {
	e.t.Helper()
	var st api.StatusResponse
	if code, ae := e.do("GET", api.PathStatus, tok, nil, nil, &st); code != 200 {
		e.t.Fatalf("status: %d %+v", code, ae)
	}
	return st
}

// waitGuard bounds the polling loops below: it only turns a hang into a
// failure (the gateway under test normally answers within milliseconds),
// so it is generous enough for a machine whose cores are all busy.
const waitGuard = time.Minute

// waitStatus polls until the status leaves PROCESSING.
func (e *env) waitStatus(tok string) api.StatusResponse {
	e.t.Helper()
	deadline := time.Now().Add(waitGuard)
	for {
		st := e.status(tok)
		if st.Status != api.StatusProcessing {
			return st
		}
		if st.NextAction != api.ActionStatus || st.RetryAfterMS <= 0 {
			e.t.Fatalf("processing status %+v, want STATUS with retry_after_ms", st)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("still processing after %v: %+v", waitGuard, st)
		}
		time.Sleep(time.Duration(st.RetryAfterMS) * time.Millisecond)
	}
}

func (e *env) details(cid string) api.SubmissionDetails {
	e.t.Helper()
	var d api.SubmissionDetails
	if code, ae := e.do("GET", "/v1/submissions/"+cid, e.partnerToken(), nil, nil, &d); code != 200 {
		e.t.Fatalf("details: %d %+v", code, ae)
	}
	return d
}

// waitCallbacks waits until n callbacks were answered 2xx and the gateway
// has recorded them as delivered (the partner answers before the gateway
// records it; a test that reads the outbox next must not see it pending).
func (e *env) waitCallbacks(n int) []receivedCallback {
	e.t.Helper()
	got := e.waitReceived(fmt.Sprintf("%d callbacks answered 2xx", n), func(got []receivedCallback) bool {
		ok := 0
		for _, c := range got {
			if c.ok {
				ok++
			}
		}
		return ok >= n
	})
	e.waitDelivered(n)
	return got
}

// waitDelivered polls the store until at least n callbacks are recorded
// as delivered.
func (e *env) waitDelivered(n int) {
	e.t.Helper()
	deadline := time.Now().Add(waitGuard)
	for {
		delivered, err := e.store.Callbacks(context.Background(), gateway.CallbackFilter{State: gateway.CallbackDelivered, Limit: n})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(delivered) >= n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d callbacks recorded as delivered after %v, want %d", len(delivered), waitGuard, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitReceived polls the partner's received callbacks until cond holds.
func (e *env) waitReceived(what string, cond func([]receivedCallback) bool) []receivedCallback {
	e.t.Helper()
	deadline := time.Now().Add(waitGuard)
	for {
		got := e.partner.received()
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("not %s after %v: %d received", what, waitGuard, len(got))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settledCallbacks waits until the outbox has recorded every queued
// callback as delivered (a delivered job is never sent again), stops the
// gateway so that nothing is in flight, and returns everything the partner
// received: a callback delivered twice shows here without waiting for a
// retry that may or may not come.
func (e *env) settledCallbacks() []receivedCallback {
	e.t.Helper()
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(waitGuard)
	for {
		var total, open int
		err := db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(state != 'delivered'), 0) FROM callbacks`).Scan(&total, &open)
		if err != nil {
			e.t.Fatal(err)
		}
		if total > 0 && open == 0 {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d of %d callbacks not recorded as delivered after %v", open, total, waitGuard)
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.stop()
	return e.partner.received()
}

func TestToken(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name     string
		body     any
		ctype    string
		wantCode int
		wantErr  string
	}{
		{"valid", api.TokenRequest{ClientID: clientID, Passkey: passkey}, "", 200, ""},
		{"wrong passkey", api.TokenRequest{ClientID: clientID, Passkey: "nope"}, "", 401, api.CodeInvalidCredentials},
		{"unknown client", api.TokenRequest{ClientID: "ghost", Passkey: passkey}, "", 401, api.CodeInvalidCredentials},
		{"other partner's passkey", api.TokenRequest{ClientID: "selfie-only", Passkey: passkey}, "", 401, api.CodeInvalidCredentials},
		{"malformed JSON", []byte(`{"client_id":`), "", 400, api.CodeBadRequest},
		{"not JSON", []byte(`client_id=acme`), "application/x-www-form-urlencoded", 415, api.CodeUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.ctype != "" {
				hdr["Content-Type"] = tt.ctype
			}
			var tr api.TokenResponse
			code, ae := e.do("POST", api.PathToken, "", tt.body, hdr, &tr)
			if code != tt.wantCode || ae.Code != tt.wantErr {
				t.Fatalf("got %d %+v, want %d %q", code, ae, tt.wantCode, tt.wantErr)
			}
			if code == 200 {
				if len(tr.PartnerToken) != 43 {
					t.Errorf("token length %d, want 43 (32 bytes base64url)", len(tr.PartnerToken))
				}
				if d := time.Until(tr.ExpiresAt); d < 59*time.Minute || d > 61*time.Minute {
					t.Errorf("expires in %v, want ~1h", d)
				}
			}
		})
	}
}

func TestAuthErrors(t *testing.T) {
	e := newEnv(t)
	ptok := e.partnerToken()
	utok, cid := e.initiate("alice")
	tests := []struct {
		name, method, path, token string
	}{
		{"status without token", "GET", api.PathStatus, ""},
		{"status with garbage", "GET", api.PathStatus, "garbage"},
		{"status with partner token", "GET", api.PathStatus, ptok},
		{"flows with user token", "POST", api.PathFlows, utok},
		{"details with user token", "GET", "/v1/submissions/" + cid, utok},
		{"submission with partner token", "POST", api.PathSubmissions, ptok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ae := e.do(tt.method, tt.path, tt.token, []byte(`{}`), nil, nil)
			if code != 401 || ae.Code != api.CodeInvalidToken {
				t.Fatalf("got %d %+v, want 401 invalid_token", code, ae)
			}
		})
	}
	t.Run("expired user token", func(t *testing.T) {
		if st := e.status(utok); st.Status != api.StatusPending || st.NextAction != api.ActionRetry || st.AttemptsLeft != 3 {
			t.Fatalf("fresh flow status %+v", st)
		}
		e.clock.Advance(16 * time.Minute)
		defer e.clock.Advance(-16 * time.Minute)
		if code, ae := e.do("GET", api.PathStatus, utok, nil, nil, nil); code != 401 || ae.Code != api.CodeInvalidToken {
			t.Fatalf("got %d %+v, want 401 invalid_token", code, ae)
		}
	})
	t.Run("details of another partner's flow", func(t *testing.T) {
		var tr api.TokenResponse
		e.do("POST", api.PathToken, "", api.TokenRequest{ClientID: "selfie-only", Passkey: "selfie-only-passkey-01"}, nil, &tr)
		if code, ae := e.do("GET", "/v1/submissions/"+cid, tr.PartnerToken, nil, nil, nil); code != 404 || ae.Code != api.CodeNotFound {
			t.Fatalf("got %d %+v, want 404", code, ae)
		}
	})
}

func TestInitiateValidation(t *testing.T) {
	e := newEnv(t)
	ptok := e.partnerToken()
	ok := api.InitiateRequest{PartnerUserID: "alice", PartnerUserIDType: "account", Flow: api.FlowKTP, CorrelationID: "c-valid"}
	with := func(f func(*api.InitiateRequest)) api.InitiateRequest { r := ok; f(&r); return r }
	tests := []struct {
		name     string
		token    string
		req      api.InitiateRequest
		wantCode int
		wantErr  string
		wantMsg  string
	}{
		{"missing user", ptok, with(func(r *api.InitiateRequest) { r.PartnerUserID = "" }), 400, api.CodeBadRequest, "partner_user_id"},
		{"control char in user", ptok, with(func(r *api.InitiateRequest) { r.PartnerUserID = "a\x00b" }), 400, api.CodeBadRequest, "partner_user_id"},
		{"bad id type", ptok, with(func(r *api.InitiateRequest) { r.PartnerUserIDType = "msisdn number" }), 400, api.CodeBadRequest, "partner_user_id_type"},
		{"unknown flow", ptok, with(func(r *api.InitiateRequest) { r.Flow = "passport" }), 400, api.CodeBadRequest, "flow"},
		{"missing correlation id", ptok, with(func(r *api.InitiateRequest) { r.CorrelationID = "" }), 400, api.CodeBadRequest, "correlation_id"},
		{"long correlation id", ptok, with(func(r *api.InitiateRequest) { r.CorrelationID = strings.Repeat("x", 129) }), 400, api.CodeBadRequest, "correlation_id"},
		{"dot correlation id", ptok, with(func(r *api.InitiateRequest) { r.CorrelationID = "." }), 400, api.CodeBadRequest, "correlation_id"},
		{"dot-dot correlation id", ptok, with(func(r *api.InitiateRequest) { r.CorrelationID = ".." }), 400, api.CodeBadRequest, "correlation_id"},
		{"valid", ptok, ok, 201, "", ""},
		{"same correlation, same user", ptok, ok, 200, "", ""},
		{"same correlation, other user", ptok, with(func(r *api.InitiateRequest) { r.PartnerUserID = "bob" }), 409, api.CodeCorrelationConflict, ""},
		{"same correlation, other flow", ptok, with(func(r *api.InitiateRequest) { r.Flow = api.FlowSelfie }), 409, api.CodeCorrelationConflict, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ir api.InitiateResponse
			code, ae := e.do("POST", api.PathFlows, tt.token, tt.req, nil, &ir)
			if code != tt.wantCode || ae.Code != tt.wantErr || !strings.Contains(ae.Message, tt.wantMsg) {
				t.Fatalf("got %d %+v, want %d %q mentioning %q", code, ae, tt.wantCode, tt.wantErr, tt.wantMsg)
			}
			if code < 300 && (ir.UserToken == "" || ir.CorrelationID != ok.CorrelationID || ir.MaxAttempts != 3) {
				t.Errorf("response %+v", ir)
			}
		})
	}
	t.Run("flow not allowed for partner", func(t *testing.T) {
		var tr api.TokenResponse
		e.do("POST", api.PathToken, "", api.TokenRequest{ClientID: "selfie-only", Passkey: "selfie-only-passkey-01"}, nil, &tr)
		code, ae := e.do("POST", api.PathFlows, tr.PartnerToken, with(func(r *api.InitiateRequest) { r.CorrelationID = "c-ktp" }), nil, nil)
		if code != 403 || ae.Code != api.CodeFlowNotAllowed {
			t.Fatalf("got %d %+v, want 403 flow_not_allowed", code, ae)
		}
	})
	t.Run("correlation ids are per partner", func(t *testing.T) {
		var tr api.TokenResponse
		e.do("POST", api.PathToken, "", api.TokenRequest{ClientID: "selfie-only", Passkey: "selfie-only-passkey-01"}, nil, &tr)
		code, ae := e.do("POST", api.PathFlows, tr.PartnerToken, with(func(r *api.InitiateRequest) { r.Flow = api.FlowSelfie; r.PartnerUserID = "zed" }), nil, nil)
		if code != 201 {
			t.Fatalf("got %d %+v, want 201", code, ae)
		}
	})
}

func TestVerified(t *testing.T) {
	e := newEnv(t)
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	tok, cid := e.initiate("alice")

	code, sr, ae := e.submit(tok, selfie(gatewaytest.Red, "k1"))
	if code != http.StatusAccepted || sr.Attempt != 1 || sr.Status != api.StatusProcessing || sr.Duplicate {
		t.Fatalf("submit: %d %+v %+v", code, sr, ae)
	}
	st := e.waitStatus(tok)
	want := api.StatusResponse{CorrelationID: cid, Status: api.StatusVerified, NextAction: api.ActionExit, AttemptsLeft: 2}
	if st != want {
		t.Fatalf("status %+v, want %+v", st, want)
	}
	d := e.details(cid)
	if d.Status != api.StatusVerified || d.PartnerUserID != "alice" || len(d.Attempts) != 1 || d.CompletedAt == nil {
		t.Fatalf("details %+v", d)
	}
	if d.Scores.Similarity == nil || *d.Scores.Similarity < 0.99 || d.Scores.Liveness == nil || *d.Scores.Liveness != 0.95 ||
		d.Scores.DeviceLiveness == nil || *d.Scores.DeviceLiveness != 0.9 {
		t.Errorf("scores %+v", d.Scores)
	}
	if d.Thresholds.Similarity != e.cfg.Inference.MatchThreshold || d.Thresholds.Liveness != e.cfg.Inference.LivenessThreshold {
		t.Errorf("thresholds %+v", d.Thresholds)
	}
	if d.Attempts[0].ProcessedAt == nil || d.Attempts[0].ProcessedAt.Before(d.Attempts[0].SubmittedAt) {
		t.Errorf("attempt timestamps %+v", d.Attempts[0])
	}
	// The reference (prefetched at initiation, so in either order) was
	// analysed without liveness, the selfie with.
	calls := e.analyzer.Calls()
	var selfieCalls, refCalls int
	for _, c := range calls {
		switch {
		case c.Color == gatewaytest.Red && c.Options.Liveness && c.Options.Embed:
			selfieCalls++
		case c.Color == gatewaytest.Green && !c.Options.Liveness && c.Options.Embed:
			refCalls++
		}
	}
	if len(calls) != 2 || selfieCalls != 1 || refCalls != 1 {
		t.Errorf("analyzer calls %+v", calls)
	}

	cbs := e.waitCallbacks(1)
	var cb api.Callback
	if err := json.Unmarshal(cbs[0].body, &cb); err != nil {
		t.Fatal(err)
	}
	if cb.CorrelationID != cid || cb.Status != api.StatusVerified || cb.PartnerUserID != "alice" {
		t.Errorf("callback %+v", cb)
	}
	if err := api.VerifySignature([]byte(callbackSecret), cbs[0].signature, cbs[0].body, time.Now(), time.Minute); err != nil {
		t.Errorf("callback signature: %v", err)
	}
	if err := api.VerifySignature([]byte("wrong-secret"), cbs[0].signature, cbs[0].body, time.Now(), time.Minute); err == nil {
		t.Error("signature verified with the wrong secret")
	}
	// Final: no more submissions; a repeat of the decided one answers its
	// decision; the selfie bytes are gone.
	if code, _, ae := e.submit(tok, selfie(gatewaytest.Red, "k2")); code != 409 || ae.Code != api.CodeFlowFinal {
		t.Errorf("submit after final: %d %+v", code, ae)
	}
	if code, sr, ae := e.submit(tok, selfie(gatewaytest.Red, "k1")); code != http.StatusOK || !sr.Duplicate || sr.Attempt != 1 || sr.Status != api.StatusVerified {
		t.Errorf("repeat of the decided submission: %d %+v %+v, want 200 duplicate VERIFIED", code, sr, ae)
	}
	if n := len(e.settledCallbacks()); n != 1 {
		t.Errorf("%d callbacks, want exactly 1", n)
	}
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var kept int
	if err := db.QueryRow(`SELECT COUNT(*) FROM submissions WHERE selfie IS NOT NULL`).Scan(&kept); err != nil || kept != 0 {
		t.Errorf("selfies kept after processing: %d (%v)", kept, err)
	}
}

func TestIdempotentSubmission(t *testing.T) {
	e := newEnv(t)
	block := make(chan struct{})
	e.analyzer.Hook = func(ctx context.Context, _ color.RGBA, _ inference.Options) error {
		select {
		case <-block:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Spoof(gatewaytest.E(1)))
	tok, cid := e.initiate("alice")

	code, first, _ := e.submit(tok, selfie(gatewaytest.Red, "key-1"))
	if code != 202 {
		t.Fatalf("first submit: %d", code)
	}
	// Same key in the header only: same answer, flagged duplicate.
	req := selfie(gatewaytest.Red, "")
	var again api.SubmissionResponse
	code, ae := e.do("POST", api.PathSubmissions, tok, req, map[string]string{"Idempotency-Key": "key-1"}, &again)
	if code != 200 || !again.Duplicate || again.SubmissionID != first.SubmissionID || again.Attempt != 1 {
		t.Fatalf("duplicate: %d %+v %+v", code, again, ae)
	}
	tests := []struct {
		name     string
		req      api.SubmissionRequest
		hdr      map[string]string
		wantCode int
		wantErr  string
	}{
		{"new key while processing", selfie(gatewaytest.Red, "key-2"), nil, 409, api.CodeInProgress},
		{"same key, other selfie", selfie(gatewaytest.Blue, "key-1"), nil, 409, api.CodeIdempotencyConflict},
		{"header and body disagree", selfie(gatewaytest.Red, "key-1"), map[string]string{"Idempotency-Key": "key-9"}, 400, api.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ae := e.do("POST", api.PathSubmissions, tok, tt.req, tt.hdr, nil)
			if code != tt.wantCode || ae.Code != tt.wantErr {
				t.Fatalf("got %d %+v, want %d %q", code, ae, tt.wantCode, tt.wantErr)
			}
		})
	}
	close(block)
	if st := e.waitStatus(tok); st.Status != api.StatusRejected || st.NextAction != api.ActionRetry || st.AttemptsLeft != 2 {
		t.Fatalf("status %+v, want REJECTED RETRY with 2 left", st)
	}
	if d := e.details(cid); len(d.Attempts) != 1 {
		t.Fatalf("%d attempts recorded, want 1", len(d.Attempts))
	}
}

func TestSubmissionRefusals(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.Limits.MaxSelfieBytes = 4096; c.Inference.MaxPixels = 10_000 })
	tok, _ := e.initiate("alice")
	big := selfie(gatewaytest.Red, "")
	big.Selfie = bytes.Repeat([]byte{0xff}, 5000)
	notImage := selfie(gatewaytest.Red, "")
	notImage.Selfie = []byte("GIF89a not really")
	noDevice := selfie(gatewaytest.Red, "")
	noDevice.DeviceID = ""
	badScore := selfie(gatewaytest.Red, "")
	badScore.DeviceLiveness.Score = 1.5
	empty := selfie(gatewaytest.Red, "")
	empty.Selfie = nil
	tests := []struct {
		name     string
		body     any
		wantCode int
		wantErr  string
	}{
		{"selfie over limit", big, 413, api.CodePayloadTooLarge},
		{"body over limit", []byte(`{"selfie":"` + strings.Repeat("A", 20000) + `"}`), 413, api.CodePayloadTooLarge},
		{"not an image", notImage, 400, api.CodeInvalidImage},
		{"no selfie", empty, 400, api.CodeBadRequest},
		{"no device id", noDevice, 400, api.CodeBadRequest},
		{"device score out of range", badScore, 400, api.CodeBadRequest},
		{"trailing garbage", []byte(`{} {}`), 400, api.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ae := e.do("POST", api.PathSubmissions, tok, tt.body, nil, nil)
			if code != tt.wantCode || ae.Code != tt.wantErr {
				t.Fatalf("got %d %+v, want %d %q", code, ae, tt.wantCode, tt.wantErr)
			}
		})
	}
	if st := e.status(tok); st.AttemptsLeft != 3 {
		t.Errorf("refused submissions consumed attempts: %+v", st)
	}
}

func TestRetryUntilExhausted(t *testing.T) {
	// Without prefetch a reference is fetched only when a selfie needs it.
	e := newEnv(t, func(c *gateway.Config) { c.Reference.Prefetch = 0 })
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Spoof(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	tok, cid := e.initiate("mallory")
	want := []api.StatusResponse{
		{CorrelationID: cid, Status: api.StatusRejected, NextAction: api.ActionRetry, Reason: api.ReasonLivenessFailed, AttemptsLeft: 2},
		{CorrelationID: cid, Status: api.StatusRejected, NextAction: api.ActionRetry, Reason: api.ReasonLivenessFailed, AttemptsLeft: 1},
		{CorrelationID: cid, Status: api.StatusRejected, NextAction: api.ActionExit, Reason: api.ReasonLivenessFailed, AttemptsLeft: 0},
	}
	for i, w := range want {
		code, sr, ae := e.submit(tok, selfie(gatewaytest.Red, fmt.Sprintf("k%d", i)))
		if code != 202 || sr.Attempt != i+1 {
			t.Fatalf("attempt %d: %d %+v %+v", i+1, code, sr, ae)
		}
		if st := e.waitStatus(tok); st != w {
			t.Fatalf("attempt %d: status %+v, want %+v", i+1, st, w)
		}
	}
	if code, _, ae := e.submit(tok, selfie(gatewaytest.Red, "k9")); code != 409 || ae.Code != api.CodeAttemptsExhausted {
		t.Fatalf("4th submit: %d %+v, want 409 attempts_exhausted", code, ae)
	}
	d := e.details(cid)
	if d.Status != api.StatusRejected || d.Reason != api.ReasonLivenessFailed || len(d.Attempts) != 3 || d.Scores.Similarity != nil {
		t.Errorf("details %+v", d)
	}
	if n := e.partner.referenceCalls(); n != 0 {
		t.Errorf("reference fetched %d times for spoofed selfies, want 0", n)
	}
	cbs := e.waitCallbacks(1)
	if len(cbs) != 1 || !strings.Contains(string(cbs[0].body), api.ReasonLivenessFailed) {
		t.Errorf("callbacks %v", cbs)
	}
}

func TestMismatch(t *testing.T) {
	e := newEnv(t)
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(2)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	tok, cid := e.initiate("alice")
	e.submit(tok, selfie(gatewaytest.Red, ""))
	st := e.waitStatus(tok)
	if st.Status != api.StatusRejected || st.NextAction != api.ActionExit || st.Reason != api.ReasonFaceMismatch || st.AttemptsLeft != 2 {
		t.Fatalf("status %+v", st)
	}
	if d := e.details(cid); d.Scores.Similarity == nil || *d.Scores.Similarity != 0 {
		t.Errorf("similarity %v, want 0", d.Scores.Similarity)
	}
	if code, _, ae := e.submit(tok, selfie(gatewaytest.Red, "")); code != 409 || ae.Code != api.CodeFlowFinal {
		t.Errorf("submit after mismatch: %d %+v", code, ae)
	}
}

func TestReference(t *testing.T) {
	ref := gatewaytest.PNG(gatewaytest.Green)
	tests := []struct {
		name      string
		handler   func(w http.ResponseWriter, r *http.Request)
		want      string // status
		wantCalls int    // reference API calls (retries: 2)
		cfg       func(*gateway.Config)
	}{
		{"json bytes", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("partner_user_id") != "alice" || r.URL.Query().Get("flow") != api.FlowSelfie || r.URL.Query().Get("partner_user_id_type") != "account" {
				http.Error(w, "bad query", 400)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(api.ReferenceResponse{Image: ref})
		}, api.StatusVerified, 1, nil},
		{"raw png", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Write(ref)
		}, api.StatusVerified, 1, nil},
		{"image url", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("raw") == "1" {
				w.Header().Set("Content-Type", "image/png")
				w.Write(ref)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(api.ReferenceResponse{ImageURL: "http://" + r.Host + "/reference?raw=1"})
		}, api.StatusVerified, 2, nil},
		{"server error retried", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", 500)
		}, api.StatusRejected, 3, nil},
		{"timeout retried", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // never answers: every try times out
		}, api.StatusRejected, 3, func(c *gateway.Config) { c.Reference.Timeout = 200 * time.Millisecond }},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("raw") == "1" {
				w.Header().Set("Content-Type", "image/png")
				w.Write(ref)
				return
			}
			http.Redirect(w, r, "/reference?raw=1", http.StatusFound)
		}, api.StatusRejected, 1, nil},
		{"not found not retried", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no such user", 404)
		}, api.StatusRejected, 1, nil},
		{"no face in reference", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Write(gatewaytest.PNG(gatewaytest.Grey))
		}, api.StatusRejected, 1, nil},
		{"not an image", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write([]byte("nope"))
		}, api.StatusRejected, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The lease outlasts the retries (3 × the 300 ms timeout) on a
			// loaded machine, so no second claim fetches the reference again.
			// Without prefetch, so the calls counted are the worker's.
			mutate := []func(*gateway.Config){func(c *gateway.Config) { c.Processing.Lease = time.Minute; c.Reference.Prefetch = 0 }}
			if tt.cfg != nil {
				mutate = append(mutate, tt.cfg)
			}
			e := newEnv(t, mutate...)
			e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
			e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
			e.partner.setReference(tt.handler)
			tok, _ := e.initiate("alice")
			e.submit(tok, selfie(gatewaytest.Red, ""))
			st := e.waitStatus(tok)
			if st.Status != tt.want || st.NextAction != api.ActionExit {
				t.Fatalf("status %+v, want %s EXIT", st, tt.want)
			}
			if tt.want == api.StatusRejected && st.Reason != api.ReasonReferenceUnavailable {
				t.Errorf("reason %q, want REFERENCE_UNAVAILABLE", st.Reason)
			}
			if n := e.partner.referenceCalls(); n != tt.wantCalls {
				t.Errorf("reference API called %d times, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestCallbackRetried(t *testing.T) {
	e := newEnv(t)
	e.partner.mu.Lock()
	e.partner.failNext = 2
	e.partner.mu.Unlock()
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	tok, cid := e.initiate("alice")
	e.submit(tok, selfie(gatewaytest.Red, ""))
	e.waitStatus(tok)
	e.waitCallbacks(1)
	cbs := e.settledCallbacks()
	if len(cbs) != 3 || cbs[0].ok || cbs[1].ok || !cbs[2].ok {
		t.Fatalf("deliveries %d (want 2 failed then 1 ok): %+v", len(cbs), cbs)
	}
	for i, c := range cbs {
		if !bytes.Equal(c.body, cbs[0].body) || !strings.Contains(string(c.body), cid) {
			t.Errorf("delivery %d body %q", i, c.body)
		}
		if err := api.VerifySignature([]byte(callbackSecret), c.signature, c.body, time.Now(), time.Minute); err != nil {
			t.Errorf("delivery %d: %v", i, err)
		}
	}
}

func TestCallbackSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	e.partner.mu.Lock()
	e.partner.failNext = 1000
	e.partner.mu.Unlock()
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	tok, _ := e.initiate("alice")
	e.submit(tok, selfie(gatewaytest.Red, ""))
	e.waitStatus(tok)
	// Stop once a failed delivery is recorded (stopping while one is in
	// flight would leave the callback to its lease).
	deadline := time.Now().Add(waitGuard)
	for {
		cbs, err := e.store.Callbacks(context.Background(), gateway.CallbackFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(cbs) == 1 && cbs[0].Attempts > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed delivery recorded after %v", waitGuard)
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.stop()
	e.partner.mu.Lock()
	e.partner.failNext = 0
	e.partner.mu.Unlock()
	e.start()
	e.waitCallbacks(1)
}

func TestRestartResumesClaimedSubmission(t *testing.T) {
	// Selfie keys in a directory outlive the process (in memory they
	// would not: TestRestartWithMemoryKeys).
	keys := t.TempDir()
	e := newEnv(t, func(c *gateway.Config) { c.Erasure.KeyDir = keys })
	started := make(chan struct{}, 1)
	e.analyzer.Hook = func(ctx context.Context, c color.RGBA, _ inference.Options) error {
		if c != gatewaytest.Red {
			return nil // the reference, prefetched at initiation
		}
		select {
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done() // the first gateway never finishes: it "crashes"
		return ctx.Err()
	}
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	tok, cid := e.initiate("alice")
	if code, _, ae := e.submit(tok, selfie(gatewaytest.Red, "")); code != 202 {
		t.Fatalf("submit %d %+v", code, ae)
	}
	select {
	case <-started:
	case <-time.After(waitGuard):
		t.Fatal("submission never claimed")
	}
	e.stop()
	e.analyzer.Hook = nil
	// Same database; the crashed claim's lease runs out before another
	// worker may take the submission over.
	e.clock.Advance(e.cfg.Processing.Lease)
	e.start()
	st := e.waitStatus(tok)
	if st.Status != api.StatusVerified {
		t.Fatalf("after restart: %+v", st)
	}
	if d := e.details(cid); len(d.Attempts) != 1 {
		t.Fatalf("attempts %d, want 1", len(d.Attempts))
	}
	// The takeover is visible in the new process's metrics.
	resp, err := http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "faceverify_gateway_submission_reclaims_total 1") {
		t.Errorf("metrics lack one reclaim:\n%s", grepLines(string(body), "reclaims"))
	}
}

// grepLines returns the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t)
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Spoof(gatewaytest.E(1)))
	tok, _ := e.initiate("alice")
	e.submit(tok, selfie(gatewaytest.Red, ""))
	e.waitStatus(tok)
	resp, err := http.Get(e.url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`faceverify_gateway_http_requests_total{code="202",method="POST",route="/v1/submissions"} 1`,
		`faceverify_gateway_decisions_total{reason="LIVENESS_FAILED",status="REJECTED"} 1`,
		`faceverify_gateway_processing_duration_seconds_count{stage="selfie"} 1`,
		`faceverify_gateway_submissions_total{result="accepted"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code, ae := e.do("GET", "/v1/nope", "", nil, nil, nil); code != 404 || ae.Code != api.CodeNotFound {
		t.Errorf("unknown path: %d %+v", code, ae)
	}
	if code, ae := e.do("DELETE", api.PathStatus, "", nil, nil, nil); code != 405 || ae.Code != api.CodeMethodNotAllowed {
		t.Errorf("wrong method: %d %+v", code, ae)
	}
}

// TestFinalFlowCannotBeReopened: asking again for a correlation id whose
// verification is final gets 409 flow_final, never a token that could read
// the old verdict for a new capture.
func TestFinalFlowCannotBeReopened(t *testing.T) {
	e := newEnv(t)
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	tok, cid := e.initiate("alice")
	if code, _, ae := e.submit(tok, selfie(gatewaytest.Red, "k1")); code != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", code, ae)
	}
	if st := e.waitStatus(tok); st.Status != api.StatusVerified {
		t.Fatalf("status %+v, want VERIFIED", st)
	}
	var ir api.InitiateResponse
	code, ae := e.do("POST", api.PathFlows, e.partnerToken(), api.InitiateRequest{
		PartnerUserID: "alice", PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: cid}, nil, &ir)
	if code != http.StatusConflict || ae.Code != api.CodeFlowFinal || ir.UserToken != "" {
		t.Fatalf("re-initiate a final flow: %d %+v token=%q, want 409 %s and no token", code, ae, ir.UserToken, api.CodeFlowFinal)
	}
}

// TestTokenRequestNeedsBothFields: a body without client_id or passkey is a
// 400 naming them, not an authentication failure.
func TestTokenRequestNeedsBothFields(t *testing.T) {
	e := newEnv(t)
	for _, req := range []api.TokenRequest{{}, {ClientID: clientID}, {Passkey: passkey}} {
		code, ae := e.do("POST", api.PathToken, "", req, nil, nil)
		if code != http.StatusBadRequest || !strings.Contains(ae.Message, "client_id and passkey") {
			t.Errorf("token %+v: %d %+v, want 400 naming client_id and passkey", req, code, ae)
		}
	}
}

// TestCorruptSelfieCostsNoAttempt: a truncated JPEG is refused at upload
// (400 invalid_image) and the flow keeps all its attempts.
func TestCorruptSelfieCostsNoAttempt(t *testing.T) {
	e := newEnv(t)
	tok, _ := e.initiate("alice")
	var buf bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	req := selfie(gatewaytest.Red, "trunc")
	req.Selfie = buf.Bytes()[:buf.Len()/2]
	code, _, ae := e.submit(tok, req)
	if code != http.StatusBadRequest || ae.Code != api.CodeInvalidImage {
		t.Fatalf("truncated selfie: %d %+v, want 400 %s", code, ae, api.CodeInvalidImage)
	}
	if st := e.status(tok); st.Status != api.StatusPending || st.AttemptsLeft != 3 {
		t.Fatalf("status after refused selfie %+v, want PENDING with 3 attempts left", st)
	}
}

// TestImageURLRestrictedToPartnerHosts: an image_url on a host other than
// reference_url's (and not in image_hosts) is never fetched.
func TestImageURLRestrictedToPartnerHosts(t *testing.T) {
	var elsewhere atomic.Int64
	// The other host is 127.0.0.2: loopback too, but not reference_url's
	// host (127.0.0.1), and it really serves the image, so only the host
	// check stands between the answer and a VERIFIED.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.Header().Set("Content-Type", "image/png")
		w.Write(gatewaytest.PNG(gatewaytest.Green))
	}))
	other.Listener.Close()
	other.Listener = ln
	other.Start()
	defer other.Close()
	e := newEnv(t)
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	target := other.URL
	e.partner.setReference(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(api.ReferenceResponse{ImageURL: target + "/img.png"})
	})
	tok, _ := e.initiate("alice")
	e.submit(tok, selfie(gatewaytest.Red, ""))
	st := e.waitStatus(tok)
	if st.Status != api.StatusRejected || st.Reason != api.ReasonReferenceUnavailable {
		t.Fatalf("status %+v, want REJECTED REFERENCE_UNAVAILABLE", st)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("image_url on another host was fetched %d times", n)
	}
}
