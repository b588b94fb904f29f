package pgstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/pgstore"
	"github.com/faceverify/faceverify/gateway/pgstore/pgstoretest"
)

// TestExpiryTwoReplicas: two gateways on one PostgreSQL database, each with
// its own pool and clock, expire the same abandoned flows at once: every
// flow is closed once with one flow.expired callback queued, and a replica
// whose clock lags (the token still valid there) answers the status poll
// EXPIRED/EXIT.
func TestExpiryTwoReplicas(t *testing.T) {
	dsn := pgstoretest.DSN(t)
	p := newPartner(t)
	cfg := gateway.DefaultConfig()
	cfg.Devices.RequireSignature = false
	cfg.Callback.Secret = callbackSecret
	cfg.Partners = []gateway.PartnerConfig{{ClientID: clientID, PasskeyHashes: []string{gatewaytest.PasskeyHash(passkey)},
		ReferenceURL: p.srv.URL + "/reference", CallbackURL: p.srv.URL + "/callback", Flows: []string{api.FlowSelfie}, AllowPrivateNetwork: true}}
	var offsets [2]atomic.Int64
	var gws [2]*gateway.Gateway
	var stores [2]*pgstore.Store
	var urls [2]string
	for i := range 2 {
		s, err := pgstore.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
		now := func() time.Time { return time.Now().Add(time.Duration(offsets[i].Load())) }
		g, err := gateway.New(cfg, gateway.Deps{Store: s, Analyzer: gatewaytest.NewAnalyzer(), Now: now, Owner: fmt.Sprintf("r%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		gws[i] = g
		srv := httptest.NewServer(g.Handler())
		urls[i] = srv.URL
		t.Cleanup(func() { srv.Close(); s.Close() })
	}
	call := func(i int, method, path, token string, body, out any) int {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, urls[i]+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil && resp.StatusCode < 300 {
			json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	var tr api.TokenResponse
	if code := call(0, "POST", api.PathToken, "", api.TokenRequest{ClientID: clientID, Passkey: passkey}, &tr); code != 200 {
		t.Fatalf("token: %d", code)
	}
	const n = 12
	var userTokens []string
	for i := range n {
		var ir api.InitiateResponse
		if code := call(i%2, "POST", api.PathFlows, tr.PartnerToken, api.InitiateRequest{PartnerUserID: "u", PartnerUserIDType: "account",
			Flow: api.FlowSelfie, CorrelationID: fmt.Sprintf("exp-%d", i)}, &ir); code != http.StatusCreated {
			t.Fatalf("initiate: %d", code)
		}
		userTokens = append(userTokens, ir.UserToken)
	}
	for i := range 2 {
		offsets[i].Store(int64(16 * time.Minute))
	}
	var closed [2]int
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			k, err := gws[i].ExpireFlows(context.Background())
			if err != nil {
				t.Error(err)
			}
			closed[i] = k
		})
	}
	wg.Wait()
	if closed[0]+closed[1] != n {
		t.Errorf("replicas closed %d + %d flows, want %d in all", closed[0], closed[1], n)
	}
	cbs, err := stores[0].Callbacks(context.Background(), gateway.CallbackFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	perFlow := map[string]int{}
	for _, c := range cbs {
		perFlow[c.FlowID]++
		var body api.Callback
		if err := json.Unmarshal(c.Body, &body); err != nil || c.Event != api.EventFlowExpired || body.DeliveryID != c.DeliveryID ||
			body.Status != api.StatusExpired || body.PartnerID != clientID {
			t.Errorf("callback %+v: body %+v %v", c, body, err)
		}
	}
	if len(cbs) != n || len(perFlow) != n {
		t.Errorf("%d callbacks for %d flows, want one for each of %d", len(cbs), len(perFlow), n)
	}
	offsets[1].Store(int64(14 * time.Minute)) // replica 1 lags: the token is still valid there
	var st api.StatusResponse
	if code := call(1, "GET", api.PathStatus, userTokens[5], nil, &st); code != 200 || st.Status != api.StatusExpired || st.NextAction != api.ActionExit {
		t.Errorf("status on the lagging replica: %d %+v, want EXPIRED EXIT", code, st)
	}
}
