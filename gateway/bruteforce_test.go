package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/sqlitestore"
	"github.com/faceverify/faceverify/inference"
)

// answer is an HTTP answer with its headers.
type answer struct {
	code int
	hdr  http.Header
	err  api.Error
	body []byte
}

// call makes a request to base and returns the whole answer.
func call(t *testing.T, base, method, path, token string, body any, hdr map[string]string) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
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
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{code: resp.StatusCode, hdr: resp.Header}
	a.body, _ = io.ReadAll(resp.Body)
	if a.code >= 300 {
		if err := json.Unmarshal(a.body, &a.err); err != nil || a.err.Code == "" {
			t.Fatalf("%s %s: %d with non-api.Error body %q", method, path, a.code, a.body)
		}
	}
	return a
}

// wantLimited checks a 429 rate_limited answer naming limit, with
// Retry-After (and retry_after_s) of retryAfter seconds (frozen clock).
func wantLimited(t *testing.T, what string, a answer, limit string, retryAfter int) {
	t.Helper()
	if a.code != http.StatusTooManyRequests || a.err.Code != api.CodeRateLimited || !strings.Contains(a.err.Message, limit) {
		t.Errorf("%s: %d %+v, want 429 %s naming %s", what, a.code, a.err, api.CodeRateLimited, limit)
		return
	}
	if got := a.hdr.Get("Retry-After"); got != strconv.Itoa(retryAfter) || a.err.RetryAfterS != retryAfter {
		t.Errorf("%s: Retry-After %q, retry_after_s %d; want %d", what, got, a.err.RetryAfterS, retryAfter)
	}
}

// withDefaultLimits puts the default rate limits back (testConfig lifts
// them).
func withDefaultLimits(c *gateway.Config) { c.Limits.Rate = gateway.DefaultConfig().Limits.Rate }

// frozenEnv is newEnv with the clock stopped (it moves by Advance only),
// so buckets refill only when the test says, however slow the machine.
func frozenEnv(t *testing.T, mutate ...func(*gateway.Config)) *env {
	e := newEnv(t, mutate...)
	e.clock.Freeze()
	return e
}

// TestTokenRateLimitPerSource: with the defaults (10 at once, then 10 a
// minute per source) the 11th token request from one address is 429,
// the right passkey included, until a token has refilled (6 s).
func TestTokenRateLimitPerSource(t *testing.T) {
	e := frozenEnv(t, withDefaultLimits)
	for i := range 10 {
		if a := call(t, e.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: fmt.Sprintf("wrong-%d", i)}, nil); a.code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %+v, want 401", i, a.code, a.err)
		}
	}
	wantLimited(t, "11th guess", call(t, e.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: "wrong"}, nil), "token_source", 6)
	wantLimited(t, "right passkey", call(t, e.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: passkey}, nil), "token_source", 6)
	// A proxy's X-Forwarded-For is not believed by default.
	wantLimited(t, "spoofed forwarded-for", call(t, e.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: passkey},
		map[string]string{"X-Forwarded-For": "198.51.100.7"}), "token_source", 6)
	e.clock.Advance(6 * time.Second)
	if a := call(t, e.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: passkey}, nil); a.code != http.StatusOK {
		t.Errorf("after 6 s: %d %+v, want 200", a.code, a.err)
	}
}

// TestTokenRateLimitPerClient: guesses from ever new addresses (behind a
// trusted proxy) still empty the client's bucket (20, then 10 a minute):
// the right passkey is then refused too until it refills, other partners
// are not affected, and unknown client ids share one bucket.
func TestTokenRateLimitPerClient(t *testing.T) {
	e := frozenEnv(t, withDefaultLimits, func(c *gateway.Config) { c.Limits.Rate.TrustedProxies = []string{"127.0.0.1"} })
	n := 0
	from := func() map[string]string {
		n++
		return map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.%d.%d", n/250, n%250+1)}
	}
	for i := range 20 {
		if a := call(t, e.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: "wrong"}, from()); a.code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %+v, want 401", i, a.code, a.err)
		}
	}
	wantLimited(t, "21st guess", call(t, e.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: "wrong"}, from()), "token_client", 6)
	wantLimited(t, "right passkey", call(t, e.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: passkey}, from()), "token_client", 6)
	if a := call(t, e.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: "selfie-only", Passkey: "selfie-only-passkey-01"}, from()); a.code != http.StatusOK {
		t.Errorf("another partner: %d %+v, want 200", a.code, a.err)
	}
	for i := range 20 {
		if a := call(t, e.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: fmt.Sprintf("ghost-%d", i), Passkey: "wrong"}, from()); a.code != http.StatusUnauthorized {
			t.Fatalf("unknown client %d: %d %+v, want 401", i, a.code, a.err)
		}
	}
	wantLimited(t, "21st unknown client", call(t, e.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: "ghost-x", Passkey: "wrong"}, from()), "token_client", 6)
	e.clock.Advance(6 * time.Second)
	if a := call(t, e.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: passkey}, from()); a.code != http.StatusOK {
		t.Errorf("after 6 s: %d %+v, want 200", a.code, a.err)
	}
}

// TestPasskeyRotation: with two hashes configured both passkeys work; an
// old passkey stops working once its hash is removed.
func TestPasskeyRotation(t *testing.T) {
	const next = "acme-next-passkey-0123456789"
	e := newEnv(t, func(c *gateway.Config) {
		c.Partners[0].PasskeyHashes = append(c.Partners[0].PasskeyHashes, gatewaytest.PasskeyHash(next))
	})
	for _, pk := range []string{passkey, next} {
		if a := call(t, e.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: pk}, nil); a.code != http.StatusOK {
			t.Errorf("passkey %q during the rotation: %d %+v", pk, a.code, a.err)
		}
	}
	e2 := newEnv(t, func(c *gateway.Config) { c.Partners[0].PasskeyHashes = []string{gatewaytest.PasskeyHash(next)} })
	if a := call(t, e2.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: passkey}, nil); a.code != http.StatusUnauthorized {
		t.Errorf("old passkey after the rotation: %d %+v, want 401", a.code, a.err)
	}
	if a := call(t, e2.url, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: next}, nil); a.code != http.StatusOK {
		t.Errorf("new passkey after the rotation: %d %+v", a.code, a.err)
	}
}

// TestEnrollRateLimit: enrollment-token guesses from one address are 429
// after 10, the right token included.
func TestEnrollRateLimit(t *testing.T) {
	const enrollToken = "enroll-token-0123456789"
	e := frozenEnv(t, withDefaultLimits, func(c *gateway.Config) { c.Devices.EnrollToken = enrollToken })
	reg := api.RegisterDeviceRequest{DeviceID: "kiosk-9", PublicKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
	for i := range 10 {
		if a := call(t, e.url, "POST", api.PathDevices, fmt.Sprintf("guess-%d-0123456789", i), reg, nil); a.code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %+v, want 401", i, a.code, a.err)
		}
	}
	wantLimited(t, "11th guess", call(t, e.url, "POST", api.PathDevices, "guess-0123456789", reg, nil), "enroll_source", 12)
	wantLimited(t, "right token", call(t, e.url, "POST", api.PathDevices, enrollToken, reg, nil), "enroll_source", 12)
}

// TestSubmissionRateLimits: per flow (6 at once) and per device (10 at
// once), duplicates included.
func TestSubmissionRateLimits(t *testing.T) {
	e := frozenEnv(t, func(c *gateway.Config) {
		c.Limits.Rate.SubmitFlow = gateway.RateLimit{PerMinute: 10, Burst: 6}
		c.Limits.Rate.SubmitDevice = gateway.RateLimit{PerMinute: 30, Burst: 10}
	})
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	tokA, _ := e.initiate("user-a")
	for i := range 6 { // the same selfie re-sent: one attempt, six requests
		if a := call(t, e.url, "POST", api.PathSubmissions, tokA, selfie(gatewaytest.Red, "key-a"), nil); a.code != http.StatusAccepted && a.code != http.StatusOK {
			t.Fatalf("submission %d: %d %+v", i, a.code, a.err)
		}
	}
	wantLimited(t, "7th request of the flow", call(t, e.url, "POST", api.PathSubmissions, tokA, selfie(gatewaytest.Red, "key-a"), nil), "submit_flow", 6)
	tokB, _ := e.initiate("user-b")
	for i := range 4 {
		if a := call(t, e.url, "POST", api.PathSubmissions, tokB, selfie(gatewaytest.Red, "key-b"), nil); a.code != http.StatusAccepted && a.code != http.StatusOK {
			t.Fatalf("flow b submission %d: %d %+v", i, a.code, a.err)
		}
	}
	wantLimited(t, "11th request of the device", call(t, e.url, "POST", api.PathSubmissions, tokB, selfie(gatewaytest.Red, "key-b"), nil), "submit_device", 2)
	other := selfie(gatewaytest.Red, "key-b")
	other.DeviceID = "kiosk-2"
	if a := call(t, e.url, "POST", api.PathSubmissions, tokB, other, nil); a.code != http.StatusOK {
		t.Errorf("another device: %d %+v, want 200 (the duplicate)", a.code, a.err)
	}
}

// mismatchEnv scripts selfies Red (live, E(0)) against a reference Green
// (E(1)): every Red attempt is FACE_MISMATCH, final.
func mismatchEnv(e *env) {
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(0)))
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
}

// attempt submits a selfie of colour c to the flow of tok and waits for
// its decision. Its bytes are the flow's own (a repeat across flows would
// be SUBMISSION_REPLAY).
func (e *env) attempt(tok string, c color.RGBA, key string) api.StatusResponse {
	e.t.Helper()
	req := selfie(c, key)
	req.Selfie = gatewaytest.PNGVariant(c, tok+"/"+key)
	if code, _, ae := e.submit(tok, req); code != http.StatusAccepted {
		e.t.Fatalf("submit: %d %+v", code, ae)
	}
	return e.waitStatus(tok)
}

// initiateAnswer opens a flow for user and returns the whole answer.
func initiateAnswer(t *testing.T, base, ptok, user string) answer {
	t.Helper()
	return call(t, base, "POST", api.PathFlows, ptok, api.InitiateRequest{
		PartnerUserID: user, PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: fmt.Sprintf("corr-%d", flowSeq.Add(1))}, nil)
}

// wantLocked checks a 423 user_locked answer unlocking at until.
func wantLocked(t *testing.T, what string, a answer, until time.Time, now time.Time) {
	t.Helper()
	if a.code != http.StatusLocked || a.err.Code != api.CodeUserLocked || a.err.UnlockAt == nil {
		t.Errorf("%s: %d %s, want 423 %s with unlock_at", what, a.code, a.body, api.CodeUserLocked)
		return
	}
	if d := a.err.UnlockAt.Sub(until); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("%s: unlock_at %v, want %v", what, a.err.UnlockAt, until)
	}
	want := int((until.Sub(now) + time.Second - 1) / time.Second)
	if got, _ := strconv.Atoi(a.hdr.Get("Retry-After")); got < want-1 || got > want+1 || a.err.RetryAfterS != got {
		t.Errorf("%s: Retry-After %q, retry_after_s %d; want ≈ %d", what, a.hdr.Get("Retry-After"), a.err.RetryAfterS, want)
	}
}

// TestLockoutAcrossFlows: five impostor flows (FACE_MISMATCH) for one user
// lock new flows for that user (423 until the first failure is 15 min
// old), and an open flow of that user takes no more submissions; other
// users are not affected, and after the window the user may verify again.
func TestLockoutAcrossFlows(t *testing.T) {
	e := newEnv(t)
	mismatchEnv(e)
	ptok := e.partnerToken()
	open, _ := e.initiate("victim") // opened before the lockout
	var first time.Time
	for i := range 5 {
		tok, _ := e.initiate("victim")
		if st := e.attempt(tok, gatewaytest.Red, "k"); st.Status != api.StatusRejected || st.Reason != api.ReasonFaceMismatch {
			t.Fatalf("impostor flow %d: %+v", i, st)
		}
		if i == 0 {
			first = e.clock.Now()
		}
		e.clock.Advance(time.Minute)
	}
	var until time.Time
	// The first failure was recorded at most a moment before `first`.
	a := initiateAnswer(t, e.url, ptok, "victim")
	if a.err.UnlockAt != nil {
		until = *a.err.UnlockAt
		if d := until.Sub(first.Add(15 * time.Minute)); d > 0 || d < -time.Second {
			t.Errorf("unlock_at %v, want the first failure (≈%v) + 15m", until, first)
		}
	}
	wantLocked(t, "6th flow", a, until, e.clock.Now())
	sub := call(t, e.url, "POST", api.PathSubmissions, open, selfie(gatewaytest.Red, "k"), nil)
	wantLocked(t, "submission to the open flow", sub, until, e.clock.Now())
	if a := initiateAnswer(t, e.url, ptok, "bystander"); a.code != http.StatusCreated {
		t.Errorf("another user: %d %+v", a.code, a.err)
	}
	e.clock.Advance(until.Sub(e.clock.Now()) + time.Second)
	if a := initiateAnswer(t, e.url, ptok, "victim"); a.code != http.StatusCreated {
		t.Errorf("after unlock_at: %d %+v, want 201", a.code, a.err)
	}
}

// TestLockoutCountsAttempts: liveness failures count per attempt (3 in
// one flow + 2 in the next lock the user, and the open flow's third
// attempt is refused); quality refusals (NO_FACE) do not count.
func TestLockoutCountsAttempts(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.Limits.Lockout = gateway.LockoutConfig{Failures: 5, Window: 15 * time.Minute}
	})
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Spoof(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Grey, gatewaytest.NoFace())
	ptok := e.partnerToken()
	for range 2 { // six NO_FACE attempts
		tok, _ := e.initiate("blurry")
		for j := range 3 {
			e.attempt(tok, gatewaytest.Grey, fmt.Sprintf("k%d", j))
		}
	}
	if a := initiateAnswer(t, e.url, ptok, "blurry"); a.code != http.StatusCreated {
		t.Errorf("after six NO_FACE attempts: %d %+v, want 201", a.code, a.err)
	}
	tok1, _ := e.initiate("victim")
	for j := range 3 {
		if st := e.attempt(tok1, gatewaytest.Red, fmt.Sprintf("k%d", j)); st.Reason != api.ReasonLivenessFailed {
			t.Fatalf("attempt %d: %+v", j, st)
		}
	}
	tok2, _ := e.initiate("victim")
	for j := range 2 {
		e.attempt(tok2, gatewaytest.Red, fmt.Sprintf("k%d", j))
	}
	if a := call(t, e.url, "POST", api.PathSubmissions, tok2, selfie(gatewaytest.Red, "k2"), nil); a.code != http.StatusLocked || a.err.Code != api.CodeUserLocked {
		t.Errorf("third attempt of the second flow: %d %s, want 423", a.code, a.body)
	}
	if a := initiateAnswer(t, e.url, ptok, "victim"); a.code != http.StatusLocked {
		t.Errorf("new flow: %d %s, want 423", a.code, a.body)
	}
}

// TestLockoutPerPartner: a partner's [partners.lockout] overrides the
// default for its users only.
func TestLockoutPerPartner(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.Partners[0].Lockout = gateway.LockoutConfig{Failures: 2}
		c.Partners[1].Flows = []string{api.FlowSelfie}
	})
	mismatchEnv(e)
	ptok := e.partnerToken()
	for range 2 {
		tok, _ := e.initiate("victim")
		e.attempt(tok, gatewaytest.Red, "k")
	}
	if a := initiateAnswer(t, e.url, ptok, "victim"); a.code != http.StatusLocked {
		t.Errorf("after 2 failures with failures = 2: %d %s, want 423", a.code, a.body)
	}
}

// TestLockoutSharedByReplicas: failures recorded through one gateway lock
// the user on another gateway over the same database.
func TestLockoutSharedByReplicas(t *testing.T) {
	e := newEnv(t)
	mismatchEnv(e)
	for range 5 {
		tok, _ := e.initiate("victim")
		e.attempt(tok, gatewaytest.Red, "k")
	}
	store, err := sqlitestore.Open(context.Background(), e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	other, err := gateway.New(e.cfg, gateway.Deps{Store: store, Analyzer: e.analyzer, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: other.Handler()}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String()
	var tr api.TokenResponse
	a := call(t, url, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: passkey}, nil)
	if err := json.Unmarshal(a.body, &tr); err != nil || a.code != http.StatusOK {
		t.Fatalf("token on the second gateway: %d %s", a.code, a.body)
	}
	if a := initiateAnswer(t, url, tr.PartnerToken, "victim"); a.code != http.StatusLocked || a.err.Code != api.CodeUserLocked {
		t.Errorf("second gateway: %d %s, want 423 user_locked", a.code, a.body)
	}
}

// TestLockoutWhileQueued: an attempt accepted before the user was locked
// but processed after is not analysed: REJECTED, USER_LOCKED, final.
func TestLockoutWhileQueued(t *testing.T) {
	p := newFakePartner(t)
	e := &env{t: t, analyzer: gatewaytest.NewAnalyzer(), partner: p, clock: &clock{}}
	entered, release := make(chan struct{}), make(chan struct{})
	e.analyzer.Hook = func(ctx context.Context, c color.RGBA, opts inference.Options) error {
		if c == gatewaytest.Blue && opts.Liveness {
			close(entered)
			<-release
		}
		return nil
	}
	e.cfg = testConfig(t, p)
	e.cfg.Processing.Workers = 1
	e.dbPath = e.cfg.Database.Path
	e.start()
	mismatchEnv(e)
	e.analyzer.Set(gatewaytest.Blue, gatewaytest.Live(gatewaytest.E(0)))
	for range 4 {
		tok, _ := e.initiate("victim")
		e.attempt(tok, gatewaytest.Red, "k")
	}
	tok5, _ := e.initiate("victim")
	tok6, _ := e.initiate("victim")
	if code, _, ae := e.submit(tok5, selfie(gatewaytest.Blue, "k")); code != http.StatusAccepted {
		t.Fatalf("5th: %d %+v", code, ae)
	}
	<-entered // the only worker is analysing the 5th
	if code, _, ae := e.submit(tok6, selfie(gatewaytest.Red, "k")); code != http.StatusAccepted {
		t.Fatalf("6th (4 failures so far): %d %+v", code, ae)
	}
	redCalls := countCalls(e.analyzer, gatewaytest.Red)
	close(release)
	if st := e.waitStatus(tok5); st.Reason != api.ReasonFaceMismatch {
		t.Errorf("5th: %+v", st)
	}
	st := e.waitStatus(tok6)
	if st.Status != api.StatusRejected || st.Reason != api.ReasonUserLocked || st.NextAction != api.ActionExit {
		t.Errorf("6th: %+v, want REJECTED/USER_LOCKED/EXIT", st)
	}
	if n := countCalls(e.analyzer, gatewaytest.Red); n != redCalls {
		t.Errorf("the locked attempt was analysed (%d → %d calls)", redCalls, n)
	}
}

func countCalls(a *gatewaytest.Analyzer, c color.RGBA) int {
	n := 0
	for _, call := range a.Calls() {
		if call.Color == c {
			n++
		}
	}
	return n
}
