package gateway_test

import (
	"context"
	"encoding/json"
	"image/color"
	"io"
	"net/http"
	"net/http/httptest"
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

// statusAnswer is one status call's outcome.
type statusAnswer struct {
	code       int
	st         api.StatusResponse
	err        api.Error
	retryAfter string
}

// getStatus calls GET base/v1/status?query with tok (no t.Fatal: it runs in
// goroutines).
func getStatus(base, tok, query string) statusAnswer {
	req, _ := http.NewRequest("GET", base+api.PathStatus+query, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return statusAnswer{code: -1, err: api.Error{Message: err.Error()}}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := statusAnswer{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if resp.StatusCode == 200 {
		json.Unmarshal(data, &a.st)
	} else {
		json.Unmarshal(data, &a.err)
	}
	return a
}

// asyncStatus starts a status call and returns where its answer arrives.
func asyncStatus(base, tok, query string) <-chan statusAnswer {
	ch := make(chan statusAnswer, 1)
	go func() { ch <- getStatus(base, tok, query) }()
	return ch
}

// gauge reads a metric without labels from base/metrics (-1 when absent).
func gauge(t *testing.T, base, name string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return "-1"
}

// waitWaiters waits until n status requests are waiting on base: an event
// the test observes, bounded by waitGuard only to turn a hang into a failure.
func waitWaiters(t *testing.T, base string, n string) {
	t.Helper()
	deadline := time.Now().Add(waitGuard)
	for gauge(t, base, "faceverify_gateway_status_waiters") != n {
		if time.Now().After(deadline) {
			t.Fatalf("status waiters never reached %s", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// holdAnalysis makes the selfie analysis block until the returned release
// is called (or the gateway shuts down).
func holdAnalysis(e *env) (started <-chan struct{}, release func()) {
	st, rel := make(chan struct{}, 16), make(chan struct{})
	e.analyzer.Hook = func(ctx context.Context, _ color.RGBA, opts inference.Options) error {
		if !opts.Liveness { // the reference: not held
			return nil
		}
		st <- struct{}{}
		select {
		case <-rel:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return st, func() { close(rel) }
}

// verifiedEnv is a gateway whose Red selfie matches the Green reference.
func verifiedEnv(t *testing.T, mutate ...func(*gateway.Config)) *env {
	e := newEnv(t, mutate...)
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	return e
}

func TestStatusWaitParameter(t *testing.T) {
	e := verifiedEnv(t)
	tok, cid := e.initiate("alice")
	for _, tc := range []struct {
		name, query string
		code        int
		msg         string // part of the error message
	}{
		{"absent", "", 200, ""},
		{"zero", "?wait=0s", 200, ""},
		{"bare zero", "?wait=0", 200, ""},
		{"over the bound is shortened", "?wait=1h", 200, ""},
		{"no unit", "?wait=20", 400, "wait: must be a duration with a unit"},
		{"garbage", "?wait=soon", 400, "wait: must be a duration"},
		{"negative", "?wait=-1s", 400, "wait: must be ≥ 0s"},
		{"empty", "?wait=", 400, "wait: must be a duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := getStatus(e.url, tok, tc.query)
			if a.code != tc.code {
				t.Fatalf("%d %+v, want %d", a.code, a.err, tc.code)
			}
			if tc.code != 200 {
				if a.err.Code != api.CodeBadRequest || !strings.Contains(a.err.Message, tc.msg) {
					t.Errorf("error %+v, want bad_request with %q", a.err, tc.msg)
				}
				return
			}
			// Nothing submitted: RETRY at once, whatever the wait.
			want := api.StatusResponse{CorrelationID: cid, Status: api.StatusPending, NextAction: api.ActionRetry, AttemptsLeft: 3}
			if a.st != want {
				t.Errorf("status %+v, want %+v", a.st, want)
			}
		})
	}
}

// TestStatusWaitWokenByDecision: a waiting status request answers when
// this replica records the decision. The database re-check is set far
// beyond the wait, so only the decision's wake-up can answer it in time.
func TestStatusWaitWokenByDecision(t *testing.T) {
	e := verifiedEnv(t, func(c *gateway.Config) { c.Status.Recheck = time.Minute; c.Status.MaxWait = 30 * time.Second })
	started, release := holdAnalysis(e)
	tok, cid := e.initiate("alice")
	if code, _, ae := e.submit(tok, selfie(gatewaytest.Red, "k1")); code != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", code, ae)
	}
	<-started
	answer := asyncStatus(e.url, tok, "?wait=30s")
	waitWaiters(t, e.url, "1")
	select {
	case a := <-answer:
		t.Fatalf("answered while processing: %+v", a)
	default:
	}
	release()
	a := <-answer
	want := api.StatusResponse{CorrelationID: cid, Status: api.StatusVerified, NextAction: api.ActionExit, AttemptsLeft: 2}
	if a.code != 200 || a.st != want {
		t.Fatalf("long poll: %d %+v, want %+v", a.code, a.st, want)
	}
	if n := gauge(t, e.url, "faceverify_gateway_status_waiters"); n != "0" {
		t.Errorf("%s waiters after the answer, want 0", n)
	}
}

func TestStatusWaitTimeout(t *testing.T) {
	e := verifiedEnv(t)
	started, release := holdAnalysis(e)
	defer release()
	tok, cid := e.initiate("alice")
	e.submit(tok, selfie(gatewaytest.Red, "k1"))
	<-started
	a := getStatus(e.url, tok, "?wait=20ms")
	want := api.StatusResponse{CorrelationID: cid, Status: api.StatusProcessing, NextAction: api.ActionStatus,
		RetryAfterMS: e.cfg.Verification.RetryAfterMS, AttemptsLeft: 2, Waited: true}
	if a.code != 200 || a.st != want {
		t.Fatalf("long poll: %d %+v, want %+v", a.code, a.st, want)
	}
	// Without wait: the same answer at once, not marked as waited.
	want.Waited = false
	if st := e.status(tok); st != want {
		t.Fatalf("plain poll %+v, want %+v", st, want)
	}
}

// TestStatusWaitOtherReplica: a replica that did not decide (here one
// without workers, serving only the API over the same SQLite file) sees the
// decision of another at its database re-check.
func TestStatusWaitOtherReplica(t *testing.T) {
	e := verifiedEnv(t)
	started, release := holdAnalysis(e)
	store, err := sqlitestore.Open(context.Background(), e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg := e.cfg
	cfg.Status.Recheck = 10 * time.Millisecond
	other, err := gateway.New(cfg, gateway.Deps{Store: store, Analyzer: gatewaytest.NewAnalyzer(), Owner: "other"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(other.Handler())
	defer srv.Close()

	tok, cid := e.initiate("alice")
	e.submit(tok, selfie(gatewaytest.Red, "k1"))
	<-started
	answer := asyncStatus(srv.URL, tok, "?wait=25s")
	waitWaiters(t, srv.URL, "1")
	release()
	a := <-answer
	want := api.StatusResponse{CorrelationID: cid, Status: api.StatusVerified, NextAction: api.ActionExit, AttemptsLeft: 2}
	if a.code != 200 || a.st != want {
		t.Fatalf("long poll on the other replica: %d %+v, want %+v", a.code, a.st, want)
	}
}

// TestStatusWaitShutdown: shutdown answers a waiting request at once with
// the current status (not Waited: poll again after retry_after_ms), instead
// of holding the graceful shutdown for the whole wait.
func TestStatusWaitShutdown(t *testing.T) {
	e := verifiedEnv(t, func(c *gateway.Config) { c.ShutdownTimeout = time.Minute })
	started, release := holdAnalysis(e)
	defer release()
	tok, _ := e.initiate("alice")
	e.submit(tok, selfie(gatewaytest.Red, "k1"))
	<-started
	answer := asyncStatus(e.url, tok, "?wait=25s")
	waitWaiters(t, e.url, "1")
	e.stop() // returns once Serve has returned
	a := <-answer
	if a.code != 200 || a.st.Status != api.StatusProcessing || a.st.NextAction != api.ActionStatus || a.st.Waited {
		t.Fatalf("answer at shutdown: %d %+v, want PROCESSING STATUS not waited", a.code, a.st)
	}
}

func TestStatusWaitCapacity(t *testing.T) {
	e := verifiedEnv(t, func(c *gateway.Config) { c.Status.MaxWaiters = 1 })
	started, release := holdAnalysis(e)
	tok, _ := e.initiate("alice")
	e.submit(tok, selfie(gatewaytest.Red, "k1"))
	<-started
	first := asyncStatus(e.url, tok, "?wait=25s")
	waitWaiters(t, e.url, "1")
	a := getStatus(e.url, tok, "?wait=25s")
	if a.code != http.StatusServiceUnavailable || a.err.Code != api.CodeServerBusy || a.retryAfter != "1" {
		t.Errorf("second waiter: %d %+v Retry-After %q, want 503 server_busy Retry-After 1", a.code, a.err, a.retryAfter)
	}
	if v := gauge(t, e.url, "faceverify_gateway_status_waits_refused_total"); v != "1" {
		t.Errorf("refused counter %s, want 1", v)
	}
	// A plain poll is never refused.
	if st := e.status(tok); st.Status != api.StatusProcessing {
		t.Errorf("plain poll %+v", st)
	}
	release()
	if a := <-first; a.st.Status != api.StatusVerified {
		t.Errorf("first waiter: %d %+v", a.code, a.st)
	}
}

// One user token cannot take the replica's waiting slots from other
// kiosks: past MaxWaitsPerFlow its long polls are 429, and another flow's
// long poll still waits.
func TestStatusWaitPerFlow(t *testing.T) {
	e := verifiedEnv(t, func(c *gateway.Config) { c.Status.MaxWaiters = gateway.MaxWaitsPerFlow + 1 })
	started, release := holdAnalysis(e)
	tok, _ := e.initiate("alice")
	e.submit(tok, selfie(gatewaytest.Red, "k1"))
	<-started
	var held []<-chan statusAnswer
	for range gateway.MaxWaitsPerFlow {
		held = append(held, asyncStatus(e.url, tok, "?wait=25s"))
	}
	waitWaiters(t, e.url, strconv.Itoa(gateway.MaxWaitsPerFlow))
	a := getStatus(e.url, tok, "?wait=25s")
	if a.code != http.StatusTooManyRequests || a.err.Code != api.CodeRateLimited || a.retryAfter != "1" {
		t.Errorf("wait %d of one flow: %d %+v Retry-After %q, want 429 rate_limited Retry-After 1",
			gateway.MaxWaitsPerFlow+1, a.code, a.err, a.retryAfter)
	}
	if st := e.status(tok); st.Status != api.StatusProcessing {
		t.Errorf("plain poll %+v", st)
	}
	// Another kiosk's flow still gets the last slot.
	tok2, _ := e.initiate("bob")
	e.submit(tok2, selfie(gatewaytest.Red, "k2"))
	other := asyncStatus(e.url, tok2, "?wait=25s")
	waitWaiters(t, e.url, strconv.Itoa(gateway.MaxWaitsPerFlow+1))
	release()
	// Bob's selfie repeats Alice's bytes: whichever is decided second is a
	// replay. Every waiter is answered with its flow's decision.
	for i, ch := range append(held, other) {
		if a := <-ch; a.code != 200 || a.st.NextAction == api.ActionStatus || a.st.Status == api.StatusProcessing {
			t.Errorf("waiter %d: %d %+v, want a decision", i, a.code, a.st)
		}
	}
	if v := gauge(t, e.url, "faceverify_gateway_status_waiters"); v != "0" {
		t.Errorf("waiters after the decisions: %s, want 0", v)
	}
}
