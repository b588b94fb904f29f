package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/partnerdemo"
	"github.com/faceverify/faceverify/gateway/sqlitestore"
)

// Callback keys of the two partners of these tests (≥ 32 characters each).
var (
	keyA1 = api.CallbackKey{ID: "a1", Secret: []byte("acme-callback-secret-0123456789abcdef")}
	keyA2 = api.CallbackKey{ID: "a2", Secret: []byte("acme-callback-secret-rotated-0123456789")}
	keyB1 = api.CallbackKey{ID: "b1", Secret: []byte("bank-b-callback-secret-0123456789abcdef")}
)

const (
	bankB        = "bank-b"
	bankBPasskey = "bank-b-passkey-0123456789"
)

// cbAnswer is one callback request a partner answered.
type cbAnswer struct {
	code      int
	body      []byte
	signature string
	delivery  string
	event     string
}

// samplePartner is the sample partner backend (gateway/partnerdemo) behind
// a test server that reports every callback answer on answers and can
// answer 500 to the next deliveries without passing them on.
type samplePartner struct {
	*partnerdemo.Partner
	srv     *httptest.Server
	answers chan cbAnswer
	mu      sync.Mutex
	fail    int           // answer 500 to this many callbacks
	hold    chan struct{} // when set, the next callback not failed waits for it to close
	arrived chan struct{} // closed when that callback arrives
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func newSamplePartner(t *testing.T, clientID, passkey string, keys []api.CallbackKey, clk *clock) *samplePartner {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bob.png"), gatewaytest.PNG(gatewaytest.Green), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := partnerdemo.DefaultConfig()
	cfg.GatewayURL, cfg.ClientID, cfg.Passkey, cfg.ReferenceDir, cfg.CallbackKeys = "http://127.0.0.1:1", clientID, passkey, dir, keys
	p, err := partnerdemo.New(cfg, partnerdemo.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	sp := &samplePartner{Partner: p, answers: make(chan cbAnswer, 64)}
	h := p.Handler()
	sp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != partnerdemo.PathCallback {
			h.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		a := cbAnswer{body: body, signature: r.Header.Get(api.SignatureHeader), delivery: r.Header.Get(api.DeliveryHeader), event: r.Header.Get(api.EventHeader)}
		sp.mu.Lock()
		fail := sp.fail > 0
		if fail {
			sp.fail--
		}
		var hold, arrived chan struct{}
		if !fail {
			hold, arrived = sp.hold, sp.arrived
			sp.hold, sp.arrived = nil, nil
		}
		sp.mu.Unlock()
		if hold != nil {
			close(arrived)
			<-hold
		}
		if fail {
			http.Error(w, "partner down", http.StatusInternalServerError)
			a.code = http.StatusInternalServerError
		} else {
			sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
			h.ServeHTTP(sw, r)
			a.code = sw.code
		}
		sp.answers <- a
	}))
	t.Cleanup(sp.srv.Close)
	return sp
}

// next waits for the partner's next callback answer.
func (sp *samplePartner) next(t *testing.T) cbAnswer {
	t.Helper()
	select {
	case a := <-sp.answers:
		return a
	case <-time.After(15 * time.Second):
		t.Fatal("no callback within 15s")
		return cbAnswer{}
	}
}

func (sp *samplePartner) partnerConfig(clientID, passkey string, keys ...api.CallbackKey) gateway.PartnerConfig {
	pc := gateway.PartnerConfig{ClientID: clientID, PasskeyHashes: []string{gatewaytest.PasskeyHash(passkey)},
		ReferenceURL: sp.srv.URL + partnerdemo.PathReference, CallbackURL: sp.srv.URL + partnerdemo.PathCallback,
		Flows: []string{api.FlowSelfie}, AllowPrivateNetwork: true}
	for _, k := range keys {
		pc.CallbackSecrets = append(pc.CallbackSecrets, gateway.CallbackSecretConfig{ID: k.ID, Secret: string(k.Secret)})
	}
	return pc
}

// replica is a running gateway process over a store handle of its own.
type replica struct {
	gw     *gateway.Gateway
	store  *sqlitestore.Store
	dbPath string
	url    string
	clock  *clock
	stop   func()
}

// callbackConfig is a gateway configuration for partners, with fast
// retries and the periodic expirer out of the way (tests call
// ExpireFlows).
func callbackConfig(dbPath string, partners ...gateway.PartnerConfig) gateway.Config {
	cfg := gateway.DefaultConfig()
	cfg.Devices.RequireSignature = false // these tests submit unsigned
	cfg.Database.Path = dbPath
	cfg.Processing.PollInterval = 20 * time.Millisecond
	cfg.Processing.ExpiryInterval = time.Hour
	cfg.Callback.InitialBackoff = 20 * time.Millisecond
	cfg.Callback.MaxBackoff = 100 * time.Millisecond
	cfg.Partners = partners
	return cfg
}

func startReplica(t *testing.T, cfg gateway.Config, clk *clock) *replica {
	t.Helper()
	store, err := sqlitestore.Open(context.Background(), cfg.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	an := gatewaytest.NewAnalyzer()
	an.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(7)))   // selfie
	an.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(7))) // bob.png
	gw, err := gateway.New(cfg, gateway.Deps{Store: store, Analyzer: an, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	r := &replica{gw: gw, store: store, dbPath: cfg.Database.Path, url: "http://" + ln.Addr().String(), clock: clk}
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			store.Close()
		})
	}
	t.Cleanup(r.stop)
	return r
}

// call makes a JSON API call and decodes a 2xx answer into out.
func (r *replica) call(t *testing.T, method, path, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, r.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 300 && out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// initiate opens (or re-opens) flow cid for user bob as clientID and
// returns the user token.
func (r *replica) initiate(t *testing.T, clientID, passkey, cid string) string {
	t.Helper()
	var tr api.TokenResponse
	if code := r.call(t, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: passkey}, &tr); code != 200 {
		t.Fatalf("token: %d", code)
	}
	var ir api.InitiateResponse
	code := r.call(t, "POST", api.PathFlows, tr.PartnerToken, api.InitiateRequest{PartnerUserID: "bob", PartnerUserIDType: "account",
		Flow: api.FlowSelfie, CorrelationID: cid}, &ir)
	if code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("initiate %s: %d", cid, code)
	}
	return ir.UserToken
}

func (r *replica) details(t *testing.T, clientID, passkey, cid string) api.SubmissionDetails {
	t.Helper()
	var tr api.TokenResponse
	r.call(t, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: passkey}, &tr)
	var d api.SubmissionDetails
	if code := r.call(t, "GET", "/v1/submissions/"+cid, tr.PartnerToken, nil, &d); code != 200 {
		t.Fatalf("details %s: %d", cid, code)
	}
	return d
}

func (r *replica) submit(t *testing.T, tok string) {
	t.Helper()
	req := selfie(gatewaytest.Red, "k-"+tok[:8])
	req.Selfie = gatewaytest.PNGVariant(gatewaytest.Red, tok) // bytes of its own: a repeat across flows is SUBMISSION_REPLAY
	if code := r.call(t, "POST", api.PathSubmissions, tok, req, nil); code != http.StatusAccepted {
		t.Fatalf("submit: %d", code)
	}
}

func decodeCallback(t *testing.T, a cbAnswer) api.Callback {
	t.Helper()
	var cb api.Callback
	if err := json.Unmarshal(a.body, &cb); err != nil {
		t.Fatalf("callback body %q: %v", a.body, err)
	}
	return cb
}

// TestCallbacksSignedPerPartner: each partner's callbacks are signed with
// its own key, name the key id, the partner, the event and a delivery id;
// a callback for partner B's flow signed with partner A's key (or A's
// genuine callback replayed to B) is refused by B's sample partner.
func TestCallbacksSignedPerPartner(t *testing.T) {
	clk := &clock{}
	pa := newSamplePartner(t, clientID, passkey, []api.CallbackKey{keyA1}, clk)
	pb := newSamplePartner(t, bankB, bankBPasskey, []api.CallbackKey{keyB1}, clk)
	cfg := callbackConfig(filepath.Join(t.TempDir(), "gw.db"),
		pa.partnerConfig(clientID, passkey, keyA1), pb.partnerConfig(bankB, bankBPasskey, keyB1))
	r := startReplica(t, cfg, clk)

	r.submit(t, r.initiate(t, clientID, passkey, "a-flow"))
	a := pa.next(t)
	r.submit(t, r.initiate(t, bankB, bankBPasskey, "b-flow"))
	b := pb.next(t)
	for _, tc := range []struct {
		name    string
		a       cbAnswer
		partner string
		kid     string
		cid     string
		sp      *samplePartner
	}{{"acme", a, clientID, "a1", "a-flow", pa}, {"bank-b", b, bankB, "b1", "b-flow", pb}} {
		cb := decodeCallback(t, tc.a)
		if tc.a.code != http.StatusNoContent || cb.PartnerID != tc.partner || cb.Event != api.EventFlowCompleted || cb.CorrelationID != tc.cid ||
			cb.Status != api.StatusVerified || !strings.HasPrefix(cb.DeliveryID, "dlv_") {
			t.Errorf("%s: answered %d, callback %+v", tc.name, tc.a.code, cb)
		}
		if tc.a.delivery != cb.DeliveryID || tc.a.event != api.EventFlowCompleted || !strings.Contains(tc.a.signature, ",kid="+tc.kid+",") {
			t.Errorf("%s: headers delivery %q event %q signature %q", tc.name, tc.a.delivery, tc.a.event, tc.a.signature)
		}
		if rc, ok := tc.sp.Callback(tc.cid); !ok || rc.KeyID != tc.kid || rc.Processed != 1 {
			t.Errorf("%s: recorded %+v %v", tc.name, rc, ok)
		}
	}

	// The attack: partner A signs a VERIFIED callback for B's open flow.
	r.initiate(t, bankB, bankBPasskey, "b-pending")
	forged, _ := json.Marshal(api.Callback{DeliveryID: "dlv_forged", Event: api.EventFlowCompleted, PartnerID: bankB,
		CorrelationID: "b-pending", PartnerUserID: "bob", Status: api.StatusVerified, CompletedAt: clk.Now()})
	attacks := []struct {
		name string
		body []byte
		sig  string
	}{
		{"A's key, A's key id", forged, api.SignCallback(keyA1, clk.Now(), forged)},
		{"A's key, B's key id", forged, api.SignCallback(api.CallbackKey{ID: keyB1.ID, Secret: keyA1.Secret}, clk.Now(), forged)},
		{"A's key, no key id", forged, api.Sign(keyA1.Secret, clk.Now(), forged)},
		{"A's genuine callback replayed to B", a.body, a.signature},
	}
	for _, at := range attacks {
		req, _ := http.NewRequest("POST", pb.srv.URL+partnerdemo.PathCallback, bytes.NewReader(at.body))
		req.Header.Set(api.SignatureHeader, at.sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := pb.next(t); resp.StatusCode != http.StatusUnauthorized || got.code != http.StatusUnauthorized {
			t.Errorf("%s: B answered %d, want 401", at.name, resp.StatusCode)
		}
	}
	if rc, ok := pb.Callback("b-pending"); ok {
		t.Errorf("B accepted a forged callback: %+v", rc)
	}
	if d := r.details(t, bankB, bankBPasskey, "b-pending"); d.Status != api.StatusPending {
		t.Errorf("B's flow is %s, want PENDING", d.Status)
	}
}

// TestCallbackKeyRotation: a replica still signing with the old key (a1)
// and one signing with the new key (a2, old key still listed) during a
// rolling restart are both accepted by a partner that holds both keys.
func TestCallbackKeyRotation(t *testing.T) {
	clk := &clock{}
	pa := newSamplePartner(t, clientID, passkey, []api.CallbackKey{keyA2, keyA1}, clk)
	db := filepath.Join(t.TempDir(), "gw.db")
	old := startReplica(t, callbackConfig(db, pa.partnerConfig(clientID, passkey, keyA1)), clk)
	old.submit(t, old.initiate(t, clientID, passkey, "before"))
	a := pa.next(t)
	old.stop()
	rolled := startReplica(t, callbackConfig(db, pa.partnerConfig(clientID, passkey, keyA2, keyA1)), clk)
	rolled.submit(t, rolled.initiate(t, clientID, passkey, "after"))
	var b cbAnswer
	for {
		b = pa.next(t)
		if cb := decodeCallback(t, b); cb.CorrelationID == "after" {
			break
		} else if cb.CorrelationID != "before" || b.code != http.StatusOK || !strings.Contains(b.signature, ",kid=a2,") {
			t.Fatalf("unexpected delivery %d %q %s", b.code, b.body, b.signature)
		}
		// The old replica stopped before it recorded the delivery: the new
		// one sent it again (same delivery id, now signed with a2) and the
		// partner acknowledged the duplicate (200) without processing it.
	}
	for _, tc := range []struct {
		a        cbAnswer
		cid, kid string
	}{{a, "before", "a1"}, {b, "after", "a2"}} {
		rc, ok := pa.Callback(tc.cid)
		if tc.a.code != http.StatusNoContent || !strings.Contains(tc.a.signature, ",kid="+tc.kid+",") || !ok || rc.KeyID != tc.kid {
			t.Errorf("%s: answered %d, signature %q, recorded %+v %v; want kid %s", tc.cid, tc.a.code, tc.a.signature, rc, ok, tc.kid)
		}
	}
	// A partner that already dropped a1 refuses what the old replica signs.
	if _, err := api.VerifyCallback([]api.CallbackKey{keyA2}, a.signature, a.body, clk.Now(), time.Minute); err == nil {
		t.Error("a1 signature verified without the a1 key")
	}
}

// TestCallbackRetryKeepsDeliveryID: a delivery the partner fails is retried
// with the same body and delivery id; the last error is recorded while it
// fails and cleared once the retry is delivered.
func TestCallbackRetryKeepsDeliveryID(t *testing.T) {
	clk := &clock{}
	pa := newSamplePartner(t, clientID, passkey, []api.CallbackKey{keyA1}, clk)
	r := startReplica(t, callbackConfig(filepath.Join(t.TempDir(), "gw.db"), pa.partnerConfig(clientID, passkey, keyA1)), clk)
	hold, arrived := make(chan struct{}), make(chan struct{})
	pa.mu.Lock()
	pa.fail, pa.hold, pa.arrived = 1, hold, arrived
	pa.mu.Unlock()

	r.submit(t, r.initiate(t, clientID, passkey, "retried"))
	first := pa.next(t)
	select { // the retry is claimed only after the failure was recorded
	case <-arrived:
	case <-time.After(15 * time.Second):
		t.Fatal("no retry within 15s")
	}
	cbs, err := r.store.Callbacks(context.Background(), gateway.CallbackFilter{})
	if err != nil || len(cbs) != 1 || cbs[0].Attempts != 1 || !strings.Contains(cbs[0].LastError, "500") {
		t.Fatalf("after the failure: %+v %v", cbs, err)
	}
	close(hold)
	second := pa.next(t)
	// The outbox delivers one callback after another: once the next flow's
	// callback arrives, the outcome of this one is recorded.
	r.submit(t, r.initiate(t, clientID, passkey, "marker"))
	if m := pa.next(t); decodeCallback(t, m).CorrelationID != "marker" {
		t.Fatalf("unexpected callback %q", m.body)
	}
	r.stop()

	c1, c2 := decodeCallback(t, first), decodeCallback(t, second)
	if first.code != 500 || second.code != http.StatusNoContent {
		t.Fatalf("answers %d then %d, want 500 then 204", first.code, second.code)
	}
	if !bytes.Equal(first.body, second.body) || c1.DeliveryID != c2.DeliveryID || first.delivery != second.delivery || first.delivery != c1.DeliveryID {
		t.Errorf("retry changed the delivery: %q/%q then %q/%q", first.delivery, c1.DeliveryID, second.delivery, c2.DeliveryID)
	}
	s, err := sqlitestore.Open(context.Background(), r.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cbs, err = s.Callbacks(context.Background(), gateway.CallbackFilter{})
	if err != nil || len(cbs) != 2 {
		t.Fatalf("callbacks %+v %v", cbs, err)
	}
	if c := cbs[1]; c.State != gateway.CallbackDelivered || c.Attempts != 2 || c.LastError != "" || c.DeliveryID != c1.DeliveryID {
		t.Errorf("after the retry: state %s, attempts %d, last_error %q, delivery %s; want delivered, 2, \"\", %s",
			c.State, c.Attempts, c.LastError, c.DeliveryID, c1.DeliveryID)
	}
	if rc, _ := pa.Callback("retried"); rc.Processed != 1 {
		t.Errorf("partner processed the callback %d times", rc.Processed)
	}
}

// TestFlowExpires: a flow whose user token expires without a decision is
// EXPIRED (details, a flow.expired callback, no new token), once; a flow
// re-initiated before its deadline lives until its newest token expires.
func TestFlowExpires(t *testing.T) {
	clk := &clock{}
	pa := newSamplePartner(t, clientID, passkey, []api.CallbackKey{keyA1}, clk)
	r := startReplica(t, callbackConfig(filepath.Join(t.TempDir(), "gw.db"), pa.partnerConfig(clientID, passkey, keyA1)), clk)
	ctx := context.Background()
	r.initiate(t, clientID, passkey, "abandoned")
	clk.Advance(10 * time.Minute)
	r.initiate(t, clientID, passkey, "abandoned") // a new token: deadline now +25m
	clk.Advance(6 * time.Minute)                  // +16m: the first token expired, the second not
	if n, err := r.gw.ExpireFlows(ctx); n != 0 || err != nil {
		t.Fatalf("ExpireFlows at +16m = %d %v, want 0", n, err)
	}
	if d := r.details(t, clientID, passkey, "abandoned"); d.Status != api.StatusPending {
		t.Fatalf("at +16m: %s, want PENDING", d.Status)
	}
	clk.Advance(10 * time.Minute) // +26m
	if n, err := r.gw.ExpireFlows(ctx); n != 1 || err != nil {
		t.Fatalf("ExpireFlows at +26m = %d %v, want 1", n, err)
	}
	if n, _ := r.gw.ExpireFlows(ctx); n != 0 {
		t.Errorf("expired again: %d", n)
	}
	d := r.details(t, clientID, passkey, "abandoned")
	if d.Status != api.StatusExpired || d.CompletedAt == nil || len(d.Attempts) != 0 {
		t.Errorf("details %+v, want EXPIRED with completed_at", d)
	}
	a := pa.next(t)
	cb := decodeCallback(t, a)
	if a.code != http.StatusNoContent || cb.Event != api.EventFlowExpired || a.event != api.EventFlowExpired || cb.Status != api.StatusExpired ||
		cb.CorrelationID != "abandoned" || cb.PartnerID != clientID {
		t.Errorf("expiry callback: %d %+v", a.code, cb)
	}
	var tr api.TokenResponse
	r.call(t, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: passkey}, &tr)
	if code := r.call(t, "POST", api.PathFlows, tr.PartnerToken, api.InitiateRequest{PartnerUserID: "bob", PartnerUserIDType: "account",
		Flow: api.FlowSelfie, CorrelationID: "abandoned"}, nil); code != http.StatusConflict {
		t.Errorf("re-initiating an expired flow: %d, want 409", code)
	}
}

// TestFlowExpiryTwoReplicas: two gateways on one database expiring the same
// flows at once close each once and send one callback per flow; a status
// poll on a replica whose clock is behind answers EXPIRED/EXIT.
func TestFlowExpiryTwoReplicas(t *testing.T) {
	c1, c2 := &clock{}, &clock{}
	pa := newSamplePartner(t, clientID, passkey, []api.CallbackKey{keyA1}, c1)
	cfg := callbackConfig(filepath.Join(t.TempDir(), "gw.db"), pa.partnerConfig(clientID, passkey, keyA1))
	r1, r2 := startReplica(t, cfg, c1), startReplica(t, cfg, c2)
	const n = 10
	tokens := map[string]string{}
	for i := range n {
		cid := fmt.Sprintf("flow-%d", i)
		tokens[cid] = []*replica{r1, r2}[i%2].initiate(t, clientID, passkey, cid)
	}
	c1.Advance(16 * time.Minute)
	c2.Advance(16 * time.Minute)
	var wg sync.WaitGroup
	closed := make([]int, 2)
	for i, r := range []*replica{r1, r2} {
		wg.Go(func() {
			k, err := r.gw.ExpireFlows(context.Background())
			if err != nil {
				t.Error(err)
			}
			closed[i] = k
		})
	}
	wg.Wait()
	if closed[0]+closed[1] != n {
		t.Fatalf("replicas closed %d + %d flows, want %d in all", closed[0], closed[1], n)
	}
	deliveries := map[string]bool{}
	for range n {
		a := pa.next(t)
		cb := decodeCallback(t, a)
		if a.code != http.StatusNoContent || cb.Event != api.EventFlowExpired {
			t.Errorf("callback %d %+v", a.code, cb)
		}
		deliveries[cb.DeliveryID] = true
	}
	if len(deliveries) != n {
		t.Errorf("%d distinct deliveries, want %d", len(deliveries), n)
	}
	c2.Advance(-2 * time.Minute) // r2's clock is behind: the token still looks valid there
	var st api.StatusResponse
	if code := r2.call(t, "GET", api.PathStatus, tokens["flow-3"], nil, &st); code != 200 ||
		st.Status != api.StatusExpired || st.NextAction != api.ActionExit {
		t.Errorf("status on the lagging replica: %d %+v, want EXPIRED EXIT", code, st)
	}
	r1.stop()
	r2.stop()
	s, err := sqlitestore.Open(context.Background(), cfg.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cbs, err := s.Callbacks(context.Background(), gateway.CallbackFilter{})
	if err != nil || len(cbs) != n {
		t.Fatalf("%d callbacks queued (%v), want one per flow (%d)", len(cbs), err, n)
	}
	flows := map[string]bool{}
	for _, c := range cbs {
		flows[c.FlowID] = true
		if c.Event != api.EventFlowExpired {
			t.Errorf("callback %+v", c)
		}
	}
	if len(flows) != n {
		t.Errorf("callbacks for %d flows, want %d", len(flows), n)
	}
	for i := range n {
		if rc, ok := pa.Callback(fmt.Sprintf("flow-%d", i)); !ok || rc.Processed != 1 || rc.Count != 1 {
			t.Errorf("flow-%d: partner recorded %+v %v, want one delivery", i, rc, ok)
		}
	}
}
