package gateway_test

import (
	"context"
	"encoding/json"
	"image/color"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/inference"
)

func (e *env) eraseUser(token, user, idType string) (int, api.UserErasure, api.Error) {
	e.t.Helper()
	path := "/v1/users/" + url.PathEscape(user)
	if idType != "" {
		path += "?partner_user_id_type=" + url.QueryEscape(idType)
	}
	var out api.UserErasure
	code, ae := e.do("DELETE", path, token, nil, nil, &out)
	return code, out, ae
}

// decided opens a flow of user, submits a (Red) selfie and waits for the
// decision; it returns the user token and correlation id.
func (e *env) decided(user string) (string, string) {
	e.t.Helper()
	tok, cid := e.initiate(user)
	req := selfie(gatewaytest.Red, "")
	req.Selfie = gatewaytest.PNGVariant(gatewaytest.Red, cid) // bytes of its own: a repeat is SUBMISSION_REPLAY
	if code, _, ae := e.submit(tok, req); code != 202 {
		e.t.Fatalf("submit: %d %+v", code, ae)
	}
	if st := e.waitStatus(tok); st.Status != api.StatusVerified {
		e.t.Fatalf("decision %+v", st)
	}
	return tok, cid
}

func TestEraseUser(t *testing.T) {
	const alice = "alice/ünïcode 42" // needs path escaping
	e := newEnv(t, func(c *gateway.Config) { c.Audit.Key = "audit-key-0123456789" })
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	_, doneCID := e.decided(alice)
	e.waitCallbacks(1)
	openTok, openCID := e.initiate(alice) // open, no submission yet
	bobTok, bobCID := e.decided("bob")
	ptok := e.partnerToken()

	for _, tc := range []struct {
		name, token, user, idType string
		code                      int
		errCode                   string
	}{
		{"no token", "", alice, "account", 401, api.CodeInvalidToken},
		{"user token", openTok, alice, "account", 401, api.CodeInvalidToken},
		{"no id type", ptok, alice, "", 400, api.CodeBadRequest},
		{"bad id type", ptok, alice, "acc ount", 400, api.CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, ae := e.eraseUser(tc.token, tc.user, tc.idType)
			if code != tc.code || ae.Code != tc.errCode {
				t.Errorf("%d %+v, want %d %s", code, ae, tc.code, tc.errCode)
			}
		})
	}
	// Another partner's token erases nothing of acme's.
	var other api.TokenResponse
	e.do("POST", api.PathToken, "", api.TokenRequest{ClientID: "selfie-only", Passkey: "selfie-only-passkey-01"}, nil, &other)
	if code, got, _ := e.eraseUser(other.PartnerToken, alice, "account"); code != 200 || got.Erased != (api.ErasedCounts{}) {
		t.Errorf("other partner: %d %+v", code, got)
	}

	code, got, ae := e.eraseUser(ptok, alice, "account")
	want := api.ErasedCounts{Flows: 2, Submissions: 1, Callbacks: 1, Tokens: 2}
	if code != 200 || got.Erased != want || got.PartnerUserIDType != "account" {
		t.Fatalf("erase: %d %+v %+v, want %+v", code, got, ae, want)
	}
	// The open flow's token stops working; details are gone.
	if code, ae := e.do("GET", api.PathStatus, openTok, nil, nil, nil); code != 401 || ae.Code != api.CodeInvalidToken {
		t.Errorf("status with the erased flow's token: %d %+v", code, ae)
	}
	if code, _, ae := e.submit(openTok, selfie(gatewaytest.Red, "")); code != 401 {
		t.Errorf("submit with the erased flow's token: %d %+v", code, ae)
	}
	for _, cid := range []string{doneCID, openCID} {
		if code, _ := e.do("GET", "/v1/submissions/"+cid, ptok, nil, nil, nil); code != 404 {
			t.Errorf("details of erased flow %s: %d", cid, code)
		}
	}
	// Bob is untouched.
	if d := e.details(bobCID); d.Status != api.StatusVerified || len(d.Attempts) != 1 {
		t.Errorf("bob's details after alice's erasure: %+v", d)
	}
	if st := e.status(bobTok); st.Status != api.StatusVerified {
		t.Errorf("bob's status: %+v", st)
	}
	// Idempotent.
	if code, got, _ := e.eraseUser(ptok, alice, "account"); code != 200 || got.Erased != (api.ErasedCounts{}) {
		t.Errorf("second erase: %d %+v, want zeros", code, got)
	}

	// The audit log names the erasure by a keyed reference only, and
	// never holds tokens, passkeys or user ids.
	log := auditLog(t, e.store)
	ref := gateway.UserRef("audit-key-0123456789", clientID, "account", alice)
	erasures := 0
	for _, a := range log {
		if a.Action == gateway.AuditUserErased && a.Subject == ref {
			erasures++
		}
		row, _ := json.Marshal(a)
		for _, secret := range []string{alice, "alice", "bob", passkey, ptok, openTok, bobTok} {
			if strings.Contains(string(row), secret) {
				t.Errorf("audit row %d holds %q: %s", a.Seq, secret, row)
			}
		}
	}
	if erasures != 2 {
		t.Errorf("erasure rows for alice: %d, want 2", erasures)
	}
}

// auditLog reads and verifies the whole audit log.
func auditLog(t *testing.T, s gateway.Store) []gateway.AuditEntry {
	t.Helper()
	all, err := s.AuditLog(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var v gateway.AuditVerifier
	if err := v.Next(all); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
	return all
}

// TestAuditedActions: token issuance, flow tokens and detail reads are
// audited as they happen.
func TestAuditedActions(t *testing.T) {
	e := newEnv(t)
	ptok := e.partnerToken()
	_, cid := e.initiate("carol")
	e.details(cid)
	count := map[string]int{}
	for _, a := range auditLog(t, e.store) {
		count[a.Action]++
		if a.Actor != "partner:"+clientID {
			t.Errorf("row %d actor %q", a.Seq, a.Actor)
		}
		if strings.Contains(a.Subject+a.Detail, ptok) || strings.Contains(a.Subject+a.Detail, "carol") {
			t.Errorf("row %d holds a token or user id: %+v", a.Seq, a)
		}
	}
	// partnerToken: one here, one in initiate, one in details.
	want := map[string]int{gateway.AuditPartnerToken: 3, gateway.AuditUserToken: 1, gateway.AuditDetailsRead: 1}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%s rows: %d, want %d (all: %v)", k, count[k], n, count)
		}
	}
}

// TestRetentionPurge: with the injected clock past retention, the purge
// deletes old flows with their rows and empties old callback bodies; a
// recent flow stays.
func TestRetentionPurge(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.Retention.Flows = 30 * 24 * time.Hour
		c.Retention.CallbackBodies = 7 * 24 * time.Hour
	})
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	oldTok, oldCID := e.decided("dave")
	e.waitCallbacks(1)
	ctx := context.Background()
	if got, err := e.gw.PurgeOnce(ctx); err != nil || !got.Zero() {
		t.Fatalf("purge of fresh data: %+v %v", got, err)
	}

	e.clock.Advance(8 * 24 * time.Hour)
	got, err := e.gw.PurgeOnce(ctx)
	if err != nil || got != (gateway.Erased{CallbackBodies: 1}) {
		t.Fatalf("purge after 8 days: %+v %v, want the delivered callback's body", got, err)
	}
	_, newCID := e.decided("erin")
	e.waitCallbacks(2)

	e.clock.Advance(23 * 24 * time.Hour) // dave's flow is 31 days old, erin's 23
	got, err = e.gw.PurgeOnce(ctx)
	if err != nil || got.Flows != 1 || got.Submissions != 1 || got.Callbacks != 1 || got.CallbackBodies != 1 {
		t.Fatalf("purge after 31 days: %+v %v, want dave's flow and erin's callback body", got, err)
	}
	if code, _ := e.do("GET", "/v1/submissions/"+oldCID, e.partnerToken(), nil, nil, nil); code != http.StatusNotFound {
		t.Errorf("details of a purged flow: %d", code)
	}
	if code, _ := e.do("GET", api.PathStatus, oldTok, nil, nil, nil); code != 401 {
		t.Errorf("status of a purged flow: %d", code)
	}
	if d := e.details(newCID); d.Status != api.StatusVerified {
		t.Errorf("recent flow: %+v", d)
	}
	purges := 0
	for _, a := range auditLog(t, e.store) {
		if a.Action == gateway.AuditRetention {
			purges++
		}
	}
	if purges != 2 {
		t.Errorf("retention rows in the audit log: %d, want 2", purges)
	}
}

// TestRestartWithMemoryKeys: with keys in memory (the default), a selfie
// accepted before a restart cannot be read after it: the attempt is handed
// back until its claims run out, then ends PROCESSING_ERROR with attempts
// left, and the device's retry is verified.
func TestRestartWithMemoryKeys(t *testing.T) {
	e := newEnv(t)
	started := make(chan struct{}, 1)
	e.analyzer.Hook = func(ctx context.Context, _ color.RGBA, _ inference.Options) error {
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
	tok, cid := e.initiate("frank")
	if code, _, ae := e.submit(tok, selfie(gatewaytest.Red, "k1")); code != 202 {
		t.Fatalf("submit %d %+v", code, ae)
	}
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("submission never claimed")
	}
	e.stop()
	e.analyzer.Hook = nil
	e.start()
	// Let leases and hand-back delays run out on the injected clock.
	deadline := time.Now().Add(10 * time.Second)
	var st api.StatusResponse
	for st = e.status(tok); st.Status == api.StatusProcessing; st = e.status(tok) {
		if time.Now().After(deadline) {
			t.Fatalf("still processing: %+v", st)
		}
		e.clock.Advance(time.Second)
		time.Sleep(20 * time.Millisecond)
	}
	if st.Status != api.StatusRejected || st.Reason != api.ReasonProcessingError || st.NextAction != api.ActionRetry {
		t.Fatalf("after restart: %+v, want REJECTED PROCESSING_ERROR RETRY", st)
	}
	if code, _, ae := e.submit(tok, selfie(gatewaytest.Red, "k2")); code != 202 {
		t.Fatalf("retry: %d %+v", code, ae)
	}
	if st := e.waitStatus(tok); st.Status != api.StatusVerified {
		t.Fatalf("retry: %+v", st)
	}
	if d := e.details(cid); len(d.Attempts) != 2 || d.Attempts[0].Reason != api.ReasonProcessingError {
		t.Errorf("attempts %+v", d.Attempts)
	}
}
