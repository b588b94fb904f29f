package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

// TestInitiateRateLimitPerPartner: POST /v1/flows is limited per partner
// (limits.rate.initiate_client): past the burst the partner gets 429
// rate_limited with Retry-After and creates nothing, another partner is
// not affected, a request without a valid partner token is 401 (the
// bucket is never consulted for it), and the bucket refills on the
// gateway's clock.
func TestInitiateRateLimitPerPartner(t *testing.T) {
	e := frozenEnv(t, func(c *gateway.Config) {
		c.Limits.Rate.InitiateClient = gateway.RateLimit{PerMinute: 6, Burst: 3} // one flow per 10 s after 3
	})
	ptok := e.partnerToken()
	initiate := func(tok, cid string) answer {
		return call(t, e.url, "POST", api.PathFlows, tok, api.InitiateRequest{
			PartnerUserID: "alice", PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: cid}, nil)
	}
	for i := range 3 {
		if a := initiate(ptok, fmt.Sprintf("rl-%d", i)); a.code != http.StatusCreated {
			t.Fatalf("initiation %d: %d %+v, want 201", i, a.code, a.err)
		}
	}
	wantLimited(t, "4th initiation", initiate(ptok, "rl-3"), "initiate_client", 10)
	wantLimited(t, "repeat of an open flow", initiate(ptok, "rl-0"), "initiate_client", 10)
	if code, _ := e.do("GET", "/v1/submissions/rl-3", ptok, nil, nil, nil); code != http.StatusNotFound {
		t.Errorf("details of the refused initiation: %d, want 404 (no flow created)", code)
	}
	if a := initiate("", "rl-4"); a.code != http.StatusUnauthorized || a.err.Code != api.CodeInvalidToken {
		t.Errorf("no token while the bucket is empty: %d %+v, want 401 %s", a.code, a.err, api.CodeInvalidToken)
	}

	// Another partner has its own bucket.
	var tr api.TokenResponse
	if code, ae := e.do("POST", api.PathToken, "", api.TokenRequest{ClientID: "selfie-only", Passkey: "selfie-only-passkey-01"}, nil, &tr); code != http.StatusOK {
		t.Fatalf("token of selfie-only: %d %+v", code, ae)
	}
	if a := initiate(tr.PartnerToken, "rl-other"); a.code != http.StatusCreated {
		t.Errorf("another partner: %d %+v, want 201", a.code, a.err)
	}

	if got := gauge(t, e.url, `faceverify_gateway_rate_limited_total{limit="initiate_client"}`); got != "2" {
		t.Errorf("rate_limited_total{initiate_client} = %s, want 2", got)
	}

	e.clock.Advance(10 * time.Second) // one token refilled
	if a := initiate(ptok, "rl-3"); a.code != http.StatusCreated {
		t.Errorf("after 10 s: %d %+v, want 201", a.code, a.err)
	}
	wantLimited(t, "right after", initiate(ptok, "rl-5"), "initiate_client", 10)
}
