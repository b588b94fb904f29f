package pgstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/pgstore"
	"github.com/faceverify/faceverify/gateway/pgstore/pgstoretest"
	"github.com/faceverify/faceverify/inference"
)

const (
	clientID       = "acme"
	passkey        = "acme-passkey-0123456789"
	callbackSecret = "callback-secret-0123456789"
)

// partner serves the reference image (Green) and records callbacks by
// correlation id.
type partner struct {
	srv *httptest.Server

	mu        sync.Mutex
	callbacks map[string][]api.Callback
	badSig    int
}

func newPartner(t *testing.T) *partner {
	p := &partner{callbacks: map[string][]api.Callback{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /reference", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(api.ReferenceResponse{Image: gatewaytest.PNG(gatewaytest.Green)})
	})
	mux.HandleFunc("POST /callback", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var cb api.Callback
		err := json.Unmarshal(body, &cb)
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil || api.VerifySignature([]byte(callbackSecret), r.Header.Get(api.SignatureHeader), body, time.Now(), time.Minute) != nil {
			p.badSig++
		}
		p.callbacks[cb.CorrelationID] = append(p.callbacks[cb.CorrelationID], cb)
		w.WriteHeader(http.StatusNoContent)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// replica is one gateway process: its own pool, analyzer, HTTP server and
// background workers.
type replica struct {
	name     string
	url      string
	analyzer *gatewaytest.Analyzer
	stop     func()
}

func startReplica(t *testing.T, name, dsn string, cfg gateway.Config) *replica {
	t.Helper()
	store, err := pgstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	an := gatewaytest.NewAnalyzer()
	an.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(0)))
	an.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(0)))
	// Blue selfies have no face (the fake's default). Each analysis takes
	// a little while, so one replica's workers cannot take all the work.
	an.Hook = func(ctx context.Context, _ color.RGBA, _ inference.Options) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
			return nil
		}
	}
	g, err := gateway.New(cfg, gateway.Deps{Store: store, Analyzer: an, Owner: name})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.RunBackground(ctx) }()
	var once sync.Once
	r := &replica{name: name, url: srv.URL, analyzer: an}
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: RunBackground: %v", name, err)
			}
		})
	}
	t.Cleanup(func() { r.stop(); srv.Close(); store.Close() })
	return r
}

// call makes an API call, checks the status is want and decodes the body
// into out. Safe from any goroutine.
func (r *replica) call(method, path, token string, body any, want int, out any) error {
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
		return fmt.Errorf("%s %s %s: %w", r.name, method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s %s: HTTP %d %s, want %d", r.name, method, path, resp.StatusCode, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s %s: %w", r.name, method, path, err)
		}
	}
	return nil
}

// must is call on the test goroutine.
func (r *replica) must(t *testing.T, method, path, token string, body any, want int, out any) {
	t.Helper()
	if err := r.call(method, path, token, body, want, out); err != nil {
		t.Fatal(err)
	}
}

// waitDecided polls r until the last attempt is decided.
func (r *replica) waitDecided(tok string) (api.StatusResponse, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var st api.StatusResponse
		if err := r.call("GET", api.PathStatus, tok, nil, http.StatusOK, &st); err != nil {
			return st, err
		}
		if st.Status != api.StatusProcessing {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("%s: still processing after 2m: %+v", r.name, st)
		}
		time.Sleep(time.Duration(st.RetryAfterMS) * time.Millisecond)
	}
}

// selfie is a capture of colour c; its bytes differ per key, as two
// captures' would (repeated bytes in another flow are SUBMISSION_REPLAY).
func selfie(c color.RGBA, key string) api.SubmissionRequest {
	return api.SubmissionRequest{
		Selfie:         gatewaytest.PNGVariant(c, key),
		DeviceLiveness: api.DeviceLiveness{Score: 0.9, Live: true, Model: "fr_liveness.onnx"},
		DeviceID:       "kiosk-1",
		IdempotencyKey: key,
		CapturedAt:     time.Now(),
	}
}

// TestTwoReplicas runs two gateways on one database and spreads a burst of
// flows across them: each flow is initiated on one replica, submits to the
// other, polls either. Every submission must be processed exactly once,
// every flow must get exactly one final callback, and both replicas must
// report the same status and details for every flow.
func TestTwoReplicas(t *testing.T) {
	dsn := pgstoretest.DSN(t)
	p := newPartner(t)
	cfg := gateway.DefaultConfig()
	cfg.Devices.RequireSignature = false // the replicas take unsigned submissions
	cfg.Verification.RetryAfterMS = 50
	cfg.Processing.PollInterval = 20 * time.Millisecond
	// No replica stops here, so no lease should ever run out: a long one
	// keeps a slow (loaded) machine from handing work over twice.
	cfg.Processing.Lease = time.Minute
	cfg.Reference.Timeout = 10 * time.Second
	cfg.Reference.Retries = 1
	cfg.Reference.RetryBackoff = 10 * time.Millisecond
	cfg.Callback.Secret = callbackSecret
	cfg.Callback.InitialBackoff = 20 * time.Millisecond
	cfg.Callback.MaxBackoff = 100 * time.Millisecond
	cfg.Erasure.KeyDir = t.TempDir() // selfie keys shared by the replicas, as a shared tmpfs would be
	gatewaytest.NoRateLimits(&cfg.Limits.Rate)
	cfg.Partners = []gateway.PartnerConfig{{ClientID: clientID, PasskeyHashes: []string{gatewaytest.PasskeyHash(passkey)},
		ReferenceURL: p.srv.URL + "/reference", CallbackURL: p.srv.URL + "/callback", Flows: []string{api.FlowSelfie},
		AllowPrivateNetwork: true}}
	reps := []*replica{startReplica(t, "replica-a", dsn, cfg), startReplica(t, "replica-b", dsn, cfg)}

	// Even flows verify at the first attempt. Odd flows are rejected first
	// (no face) and verify at the second attempt, sent to the other
	// replica. Every third flow re-sends its first selfie, same key, to the
	// other replica.
	const flows = 30
	tokens := make([]string, flows)
	// One partner token for all flows, as a partner caches it (the token
	// is in the shared database, so either replica accepts it).
	var tr api.TokenResponse
	reps[0].must(t, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: passkey}, http.StatusOK, &tr)
	var wg sync.WaitGroup
	for i := range flows {
		wg.Go(func() {
			if err := runFlow(reps[i%2], reps[(i+1)%2], tr.PartnerToken, i, &tokens[i]); err != nil {
				t.Errorf("flow %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Wait for the outbox to deliver every callback, then stop both
	// replicas' workers so no delivery is in flight.
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var delivered, total int
		if err := conn.QueryRow(context.Background(),
			`SELECT count(*) FILTER (WHERE state = 'delivered'), count(*) FROM callbacks`).Scan(&delivered, &total); err != nil {
			t.Fatal(err)
		}
		if delivered == flows {
			if total != flows {
				t.Errorf("%d callbacks queued for %d flows", total, flows)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d callbacks delivered after 2m", delivered, flows)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, r := range reps {
		r.stop()
	}

	p.mu.Lock()
	if p.badSig > 0 {
		t.Errorf("%d callbacks with a bad signature or body", p.badSig)
	}
	for i := range flows {
		got := p.callbacks[fmt.Sprintf("corr-%d", i)]
		if len(got) != 1 || got[0].Status != api.StatusVerified || got[0].PartnerUserID != fmt.Sprintf("user-%d", i) {
			t.Errorf("corr-%d: callbacks %+v, want exactly one VERIFIED", i, got)
		}
	}
	if len(p.callbacks) != flows {
		t.Errorf("callbacks for %d correlation ids, want %d", len(p.callbacks), flows)
	}
	p.mu.Unlock()

	// Exactly once: every submission done after a single claim, and the
	// analyzers saw one selfie analysis per submission between them.
	wantSubs := flows + flows/2
	rows, err := conn.Query(context.Background(), `SELECT id, state, claims, lease_owner FROM submissions`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var id, state, owner string
		var claims int
		if err := rows.Scan(&id, &state, &claims, &owner); err != nil {
			t.Fatal(err)
		}
		n++
		if state != string(gateway.StateDone) || claims != 1 || owner != "" {
			t.Errorf("submission %s: state %s, %d claims, owner %q; want done after 1 claim", id, state, claims, owner)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != wantSubs {
		t.Errorf("%d submissions stored, want %d", n, wantSubs)
	}
	selfies := map[string]int{}
	for _, r := range reps {
		for _, c := range r.analyzer.Calls() {
			if c.Options.Liveness {
				selfies[r.name]++
			}
		}
	}
	t.Logf("selfies analysed: %v", selfies)
	if selfies["replica-a"]+selfies["replica-b"] != wantSubs {
		t.Errorf("selfie analyses %v, want %d in all", selfies, wantSubs)
	}
	if selfies["replica-a"] == 0 || selfies["replica-b"] == 0 {
		t.Errorf("one replica did all the work: %v", selfies)
	}

	// Both replicas tell the same story.
	for i, tok := range tokens {
		var sa, sb api.StatusResponse
		reps[0].must(t, "GET", api.PathStatus, tok, nil, http.StatusOK, &sa)
		reps[1].must(t, "GET", api.PathStatus, tok, nil, http.StatusOK, &sb)
		if sa != sb || sa.Status != api.StatusVerified {
			t.Errorf("flow %d: status %+v on %s, %+v on %s", i, sa, reps[0].name, sb, reps[1].name)
		}
		var da, db api.SubmissionDetails
		path := "/v1/submissions/" + fmt.Sprintf("corr-%d", i)
		reps[0].must(t, "GET", path, tr.PartnerToken, nil, http.StatusOK, &da)
		reps[1].must(t, "GET", path, tr.PartnerToken, nil, http.StatusOK, &db)
		if !reflect.DeepEqual(da, db) {
			t.Errorf("flow %d: details differ:\n%s: %+v\n%s: %+v", i, reps[0].name, da, reps[1].name, db)
		}
		if want := 1 + i%2; len(da.Attempts) != want || da.Status != api.StatusVerified {
			t.Errorf("flow %d: details %+v, want %d attempts and VERIFIED", i, da, want)
		}
	}
}

// runFlow initiates flow i on a with the partner token ptok, submits its selfies alternately to b and
// a, and polls the other replica each time (see TestTwoReplicas).
func runFlow(a, b *replica, ptok string, i int, token *string) error {
	var ir api.InitiateResponse
	if err := a.call("POST", api.PathFlows, ptok, api.InitiateRequest{PartnerUserID: fmt.Sprintf("user-%d", i),
		PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: fmt.Sprintf("corr-%d", i)}, http.StatusCreated, &ir); err != nil {
		return err
	}
	tok := ir.UserToken
	*token = tok
	first := gatewaytest.Red
	if i%2 == 1 {
		first = gatewaytest.Blue
	}
	var s1 api.SubmissionResponse
	if err := b.call("POST", api.PathSubmissions, tok, selfie(first, fmt.Sprintf("k%d-1", i)), http.StatusAccepted, &s1); err != nil {
		return err
	}
	if i%3 == 0 {
		var again api.SubmissionResponse
		if err := a.call("POST", api.PathSubmissions, tok, selfie(first, fmt.Sprintf("k%d-1", i)), http.StatusOK, &again); err != nil {
			return err
		}
		if !again.Duplicate || again.SubmissionID != s1.SubmissionID {
			return fmt.Errorf("resubmission on %s = %+v, want a duplicate of %s", a.name, again, s1.SubmissionID)
		}
	}
	st, err := a.waitDecided(tok)
	if err != nil {
		return err
	}
	if i%2 == 0 {
		if st.Status != api.StatusVerified || st.NextAction != api.ActionExit {
			return fmt.Errorf("%+v, want VERIFIED EXIT", st)
		}
		return nil
	}
	if st.Status != api.StatusRejected || st.NextAction != api.ActionRetry || st.Reason != api.ReasonNoFace {
		return fmt.Errorf("after a faceless selfie: %+v, want REJECTED RETRY NO_FACE", st)
	}
	if err := a.call("POST", api.PathSubmissions, tok, selfie(gatewaytest.Red, fmt.Sprintf("k%d-2", i)), http.StatusAccepted, nil); err != nil {
		return err
	}
	st, err = b.waitDecided(tok)
	if err != nil {
		return err
	}
	if st.Status != api.StatusVerified || st.NextAction != api.ActionExit {
		return fmt.Errorf("second attempt: %+v, want VERIFIED EXIT", st)
	}
	return nil
}
