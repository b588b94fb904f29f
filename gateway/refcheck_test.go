package gateway_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
)

// checkAnswer is one initiation's outcome.
type checkAnswer struct {
	code int
	ir   api.InitiateResponse
	err  api.Error
}

// initiateAs opens (or re-opens) flow cid for user, with reference_check
// when check is set. No t.Fatal: it runs in goroutines.
func (e *env) initiateAs(tok, user, cid string, check bool) checkAnswer {
	var a checkAnswer
	a.code, a.err = e.do("POST", api.PathFlows, tok, api.InitiateRequest{
		PartnerUserID: user, PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: cid, ReferenceCheck: check}, nil, &a.ir)
	return a
}

// blockingReference makes the partner's reference API hold every request
// until release is called (also at cleanup), then answer the Green image.
func blockingReference(t *testing.T, e *env) (release func()) {
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release) // before the fake partner's server closes
	img := gatewaytest.PNG(gatewaytest.Green)
	e.partner.setReference(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(img)
	})
	return release
}

// waitFor polls cond (an event the test observes), failing after
// waitGuard, which only turns a hang into a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReferenceCheckOncePerFlow: repeating reference_check on an open
// flow never makes the gateway fetch the partner's reference again: the
// kept reference answers (one fetch, one analysis per flow), unless the
// fetch failed transiently; a correlation id another request would
// refuse 409 fetches nothing.
func TestReferenceCheckOncePerFlow(t *testing.T) {
	setup := func(t *testing.T, mutate ...func(*gateway.Config)) *env {
		e := newEnv(t, mutate...)
		e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
		e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
		return e
	}
	t.Run("repeated checks of a checked flow", func(t *testing.T) {
		e := setup(t)
		tok := e.partnerToken()
		if a := e.initiateAs(tok, "alice", "once-1", true); a.code != http.StatusCreated || !a.ir.ReferenceChecked {
			t.Fatalf("first check: %d %+v %+v, want 201 reference_checked", a.code, a.ir, a.err)
		}
		for i := range 5 {
			if a := e.initiateAs(tok, "alice", "once-1", true); a.code != http.StatusOK || !a.ir.ReferenceChecked {
				t.Fatalf("repeat %d: %d %+v %+v, want 200 reference_checked", i, a.code, a.ir, a.err)
			}
		}
		if n := e.partner.referenceCalls(); n != 1 {
			t.Errorf("reference fetched %d times for one flow, want 1", n)
		}
		if n := referenceAnalyses(e.analyzer); n != 1 {
			t.Errorf("reference analysed %d times, want 1", n)
		}
	})
	t.Run("checks of a flow opened without one", func(t *testing.T) {
		e := setup(t, func(c *gateway.Config) { c.Reference.Prefetch = 0 })
		tok := e.partnerToken()
		if a := e.initiateAs(tok, "alice", "once-2", false); a.code != http.StatusCreated || a.ir.ReferenceChecked {
			t.Fatalf("unchecked initiation: %d %+v", a.code, a.ir)
		}
		for i := range 3 {
			if a := e.initiateAs(tok, "alice", "once-2", true); a.code != http.StatusOK || !a.ir.ReferenceChecked {
				t.Fatalf("check %d: %d %+v %+v, want 200 reference_checked", i, a.code, a.ir, a.err)
			}
		}
		if n := e.partner.referenceCalls(); n != 1 {
			t.Errorf("reference fetched %d times, want 1", n)
		}
	})
	t.Run("a transient failure is fetched again, once", func(t *testing.T) {
		e := setup(t, func(c *gateway.Config) { c.Reference.Prefetch = 0 })
		tok := e.partnerToken()
		if a := e.initiateAs(tok, "alice", "once-3", false); a.code != http.StatusCreated {
			t.Fatalf("initiation: %d %+v", a.code, a.err)
		}
		e.partner.setReference(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
		if a := e.initiateAs(tok, "alice", "once-3", true); a.code != http.StatusBadGateway || a.err.Code != api.CodeReferenceUnavailable {
			t.Fatalf("check while the API is down: %d %+v, want 502 %s", a.code, a.err, api.CodeReferenceUnavailable)
		}
		down := e.partner.referenceCalls() // 1 + reference.retries
		e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
		for i := range 3 {
			if a := e.initiateAs(tok, "alice", "once-3", true); a.code != http.StatusOK || !a.ir.ReferenceChecked {
				t.Fatalf("check %d after recovery: %d %+v %+v", i, a.code, a.ir, a.err)
			}
		}
		if n := e.partner.referenceCalls() - down; n != 1 {
			t.Errorf("reference fetched %d times after the failure, want 1", n)
		}
	})
	t.Run("overlapping checks share one fetch", func(t *testing.T) {
		e := setup(t)
		release := blockingReference(t, e)
		tok := e.partnerToken()
		const n = 6
		answers := make(chan checkAnswer, n)
		for range n {
			go func() { answers <- e.initiateAs(tok, "alice", "once-4", true) }()
		}
		shared := `faceverify_gateway_reference_cache_total{result="check_shared"}`
		waitFor(t, "every check to join the first", func() bool { return gauge(t, e.url, shared) == "5" })
		if c := e.partner.referenceCalls(); c != 1 {
			t.Fatalf("%d reference requests while the checks wait, want 1", c)
		}
		release()
		codes := map[int]int{}
		for range n {
			a := <-answers
			codes[a.code]++
			if !a.ir.ReferenceChecked {
				t.Errorf("answer %d %+v %+v, want reference_checked", a.code, a.ir, a.err)
			}
		}
		if codes[http.StatusCreated] != 1 || codes[http.StatusOK] != n-1 {
			t.Errorf("answers by status %v, want one 201 and %d × 200", codes, n-1)
		}
		if c := e.partner.referenceCalls(); c != 1 {
			t.Errorf("reference fetched %d times, want 1", c)
		}
		if c := referenceAnalyses(e.analyzer); c != 1 {
			t.Errorf("reference analysed %d times, want 1", c)
		}
	})
	t.Run("conflicting or final correlation ids fetch nothing", func(t *testing.T) {
		e := setup(t)
		tok := e.partnerToken()
		if a := e.initiateAs(tok, "alice", "once-5", true); a.code != http.StatusCreated {
			t.Fatalf("initiation: %d %+v", a.code, a.err)
		}
		before := e.partner.referenceCalls()
		if a := e.initiateAs(tok, "bob", "once-5", true); a.code != http.StatusConflict || a.err.Code != api.CodeCorrelationConflict {
			t.Errorf("another user's correlation id: %d %+v, want 409 %s", a.code, a.err, api.CodeCorrelationConflict)
		}
		if n := e.partner.referenceCalls() - before; n != 0 {
			t.Errorf("reference fetched %d times for a conflicting correlation id", n)
		}
	})
}

// TestReferenceChecksBoundedPerPartner: with reference.max_checks checks
// of a partner loading, another of that partner is 503 server_busy with
// Retry-After at once, fetching nothing; it succeeds once a slot is free.
func TestReferenceChecksBoundedPerPartner(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.Reference.MaxChecks = 1 })
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	release := blockingReference(t, e)
	tok := e.partnerToken()
	first := make(chan checkAnswer, 1)
	go func() { first <- e.initiateAs(tok, "alice", "bound-1", true) }()
	waitFor(t, "the first check to reach the partner", func() bool { return e.partner.referenceCalls() == 1 })

	a := call(t, e.url, "POST", api.PathFlows, tok, api.InitiateRequest{
		PartnerUserID: "bob", PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: "bound-2", ReferenceCheck: true}, nil)
	if a.code != http.StatusServiceUnavailable || a.err.Code != api.CodeServerBusy || a.hdr.Get("Retry-After") != "1" {
		t.Errorf("second check: %d %+v Retry-After %q, want 503 %s with Retry-After 1", a.code, a.err, a.hdr.Get("Retry-After"), api.CodeServerBusy)
	}
	if n := e.partner.referenceCalls(); n != 1 {
		t.Errorf("%d reference requests, want 1 (the refused check fetched)", n)
	}
	if code, _ := e.do("GET", "/v1/submissions/bound-2", tok, nil, nil, nil); code != http.StatusNotFound {
		t.Errorf("details of the refused check: %d, want 404 (nothing created)", code)
	}
	release()
	if a := <-first; a.code != http.StatusCreated {
		t.Fatalf("first check: %d %+v", a.code, a.err)
	}
	if a := e.initiateAs(tok, "bob", "bound-2", true); a.code != http.StatusCreated || !a.ir.ReferenceChecked {
		t.Errorf("second check once the slot is free: %d %+v %+v", a.code, a.ir, a.err)
	}
}
