package pgstore_test

import (
	"context"
	"image/color"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/pgstore"
	"github.com/faceverify/faceverify/gateway/pgstore/pgstoretest"
	"github.com/faceverify/faceverify/inference"
)

// TestStatusWaitOtherReplica: a status long poll held by a replica that
// does not decide (API only, no workers) answers with the decision another
// replica records, seen at its database re-check.
func TestStatusWaitOtherReplica(t *testing.T) {
	dsn := pgstoretest.DSN(t)
	p := newPartner(t)
	cfg := gateway.DefaultConfig()
	cfg.Devices.RequireSignature = false
	cfg.Processing.Lease = time.Minute
	cfg.Reference.Retries = 1
	cfg.Callback.Secret = callbackSecret
	cfg.Erasure.KeyDir = t.TempDir()
	gatewaytest.NoRateLimits(&cfg.Limits.Rate)
	cfg.Partners = []gateway.PartnerConfig{{ClientID: clientID, PasskeyHashes: []string{gatewaytest.PasskeyHash(passkey)},
		ReferenceURL: p.srv.URL + "/reference", CallbackURL: p.srv.URL + "/callback", Flows: []string{api.FlowSelfie},
		AllowPrivateNetwork: true}}
	deciding := startReplica(t, "replica-a", dsn, cfg)
	started, release := make(chan struct{}, 4), make(chan struct{})
	deciding.analyzer.Hook = func(ctx context.Context, _ color.RGBA, opts inference.Options) error {
		if !opts.Liveness {
			return nil
		}
		started <- struct{}{}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	store, err := pgstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	wcfg := cfg
	wcfg.Status.Recheck = 10 * time.Millisecond
	g, err := gateway.New(wcfg, gateway.Deps{Store: store, Analyzer: gatewaytest.NewAnalyzer(), Owner: "replica-b"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	waiting := &replica{name: "replica-b", url: srv.URL}

	var tr api.TokenResponse
	deciding.must(t, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: passkey}, http.StatusOK, &tr)
	var ir api.InitiateResponse
	deciding.must(t, "POST", api.PathFlows, tr.PartnerToken, api.InitiateRequest{PartnerUserID: "user-1",
		PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: "corr-1"}, http.StatusCreated, &ir)
	deciding.must(t, "POST", api.PathSubmissions, ir.UserToken, selfie(gatewaytest.Red, "k1"), http.StatusAccepted, nil)
	<-started

	answer := make(chan error, 1)
	var st api.StatusResponse
	go func() {
		answer <- waiting.call("GET", api.PathStatus+"?wait=25s", ir.UserToken, nil, http.StatusOK, &st)
	}()
	// Wait until replica-b holds the request (an event, bounded only to
	// turn a hang into a failure).
	deadline := time.Now().Add(time.Minute)
	for waiters(t, srv.URL) != "1" {
		if time.Now().After(deadline) {
			t.Fatal("replica-b never held the long poll")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-answer; err != nil {
		t.Fatal(err)
	}
	if st.Status != api.StatusVerified || st.NextAction != api.ActionExit || st.Waited {
		t.Fatalf("long poll on replica-b: %+v, want VERIFIED EXIT", st)
	}
}

// waiters reads faceverify_gateway_status_waiters from base/metrics.
func waiters(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "faceverify_gateway_status_waiters "); ok {
			return v
		}
	}
	return ""
}
