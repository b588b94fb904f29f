package attack

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

// TestRepeatedReferenceCheck: a partner (or whoever holds its token)
// repeating reference_check on an open flow — one after the other, and
// many at once — cannot make the gateway call the partner's reference
// API again: every answer is reference_checked from the one fetch kept
// for the flow, and the attempt afterwards uses it too.
func TestRepeatedReferenceCheck(t *testing.T) {
	s := Shared(t)
	const user = "person_b"
	cid := NewCorrelation("refcheck-repeat")
	req := api.InitiateRequest{PartnerUserID: user, PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: cid, ReferenceCheck: true}
	hits := s.Fake.ReferenceHits()
	r := s.Initiate(t, PartnerB, req)
	f := Flow{Partner: PartnerB, User: user}
	decode(t, r, &f.InitiateResponse)
	if r.Code != http.StatusCreated || !f.ReferenceChecked {
		t.Fatalf("first check: %s, want 201 reference_checked", r)
	}
	if n := s.Fake.ReferenceHits() - hits; n != 1 {
		t.Fatalf("first check: %d reference requests, want 1", n)
	}
	for i := range 10 {
		if r := s.Initiate(t, PartnerB, req); r.Code != http.StatusOK || !strings.Contains(string(r.Body), `"reference_checked":true`) {
			t.Fatalf("repeat %d: %s, want 200 reference_checked", i, r)
		}
	}
	var wg sync.WaitGroup
	answers := make(chan *Response, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers <- s.Initiate(t, PartnerB, req)
		}()
	}
	wg.Wait()
	close(answers)
	for r := range answers {
		if r.Code != http.StatusOK || !strings.Contains(string(r.Body), `"reference_checked":true`) {
			t.Errorf("concurrent repeat: %s, want 200 reference_checked", r)
		}
	}
	if n := s.Fake.ReferenceHits() - hits; n != 1 {
		t.Errorf("27 checks of one flow made %d reference requests, want 1", n)
	}
	s.AssertUntouched(t, f)
	s.AssertStillWorks(t, s.Device, f)
	s.WaitAttempt(t, f)
	if n := s.Fake.ReferenceHits() - hits; n != 1 {
		t.Errorf("after the attempt: %d reference requests, want 1 (the kept reference)", n)
	}
}

// TestInitiateRateLimited: flow initiation is limited per partner
// (limits.rate.initiate_client, here a burst of 5 refilled at one per 100
// minutes): past the burst a partner's initiations, new or repeats of an
// open flow, are 429 rate_limited with Retry-After and create nothing;
// another partner is not affected, and the flows opened before still
// work.
func TestInitiateRateLimited(t *testing.T) {
	s := Start(t, func(c *gateway.Config) {
		c.Limits.Rate.InitiateClient = gateway.RateLimit{PerMinute: 0.01, Burst: 5}
	})
	var flows []Flow
	for i := range 5 {
		flows = append(flows, s.InitiateFlow(t, "person_a", NewCorrelation(fmt.Sprintf("initiate-%d", i))))
	}
	refused := NewCorrelation("initiate-refused")
	if r := s.Initiate(t, PartnerA, api.InitiateRequest{PartnerUserID: "person_a", PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: refused}); !limited(r) || !strings.Contains(r.APIError().Message, "initiate_client") {
		t.Errorf("6th initiation: %s, want 429 rate_limited (initiate_client) with Retry-After", r)
	}
	if r := s.Initiate(t, PartnerA, api.InitiateRequest{PartnerUserID: "person_a", PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: flows[0].CorrelationID}); !limited(r) {
		t.Errorf("repeat of an open flow: %s, want 429 rate_limited", r)
	}
	if r, _ := s.Details(t, PartnerA, refused); r.Code != http.StatusNotFound {
		t.Errorf("details of the refused initiation: %s, want 404 (no flow)", r)
	}
	if n := s.Count(t, "flows WHERE partner_id = ?", PartnerA); n != 5 {
		t.Errorf("%d flows stored for %s, want 5", n, PartnerA)
	}
	other := s.InitiateFlowAs(t, PartnerB, "person_b", NewCorrelation("initiate-other"))
	s.AssertUntouched(t, other)
	for _, f := range flows {
		s.AssertUntouched(t, f)
	}
	s.AssertStillWorks(t, s.Device, flows[0])
	if r := s.Do(t, http.MethodGet, "/metrics", "", nil, nil); !strings.Contains(string(r.Body), `faceverify_gateway_rate_limited_total{limit="initiate_client"} 2`) {
		t.Errorf("metrics: no rate_limited_total{limit=\"initiate_client\"} 2")
	}
}
