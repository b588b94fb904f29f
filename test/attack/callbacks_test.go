package attack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/partnerdemo"
)

// partnerSession reads the sample partner process's view of a flow (GET
// /sessions/{correlation_id}): the callback it recorded, if any.
func (s *Stack) partnerSession(t testing.TB, correlation string) partnerdemo.SessionState {
	t.Helper()
	resp, err := s.client.Get(s.PartnerURL + "/sessions/" + correlation)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st partnerdemo.SessionState
	if err := jsonDecode(resp.Body, &st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("partner session %s: %d %v", correlation, resp.StatusCode, err)
	}
	return st
}

// postPartnerCallback POSTs body with the signature header sig to the
// sample partner process's callback endpoint and returns its status.
func (s *Stack) postPartnerCallback(t testing.TB, body []byte, sig string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.PartnerURL+partnerdemo.PathCallback, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.SignatureHeader, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCallbackSignedByAnotherPartner: partner "other" (PartnerB), holding
// only its own callback key, forges a VERIFIED callback for a pending flow
// of partner "bank" (PartnerA) and posts it to bank's sample partner
// process: refused whichever key id it names; a callback signed with
// bank's own key but addressed to another partner is refused too. Bank
// records nothing and the flow is untouched.
func TestCallbackSignedByAnotherPartner(t *testing.T) {
	s := Shared(t)
	f := s.InitiateFlow(t, "person_a", NewCorrelation("cb-forged"))
	forged := mustJSON(t, api.Callback{DeliveryID: "dlv_" + randomHex(12), Event: api.EventFlowCompleted, PartnerID: PartnerA,
		CorrelationID: f.CorrelationID, PartnerUserID: f.User, Status: api.StatusVerified, CompletedAt: time.Now().UTC()})
	misaddressed := mustJSON(t, api.Callback{DeliveryID: "dlv_" + randomHex(12), Event: api.EventFlowCompleted, PartnerID: PartnerB,
		CorrelationID: f.CorrelationID, PartnerUserID: f.User, Status: api.StatusVerified, CompletedAt: time.Now().UTC()})
	other, bank := s.CallbackKeys[PartnerB], s.CallbackKeys[PartnerA]
	now := time.Now()
	for _, tc := range []struct {
		name string
		body []byte
		sig  string
		want int
	}{
		{"other's key, other's key id", forged, api.SignCallback(other, now, forged), http.StatusUnauthorized},
		{"other's key under bank's key id", forged, api.SignCallback(api.CallbackKey{ID: bank.ID, Secret: other.Secret}, now, forged), http.StatusUnauthorized},
		{"other's key, no key id", forged, api.Sign(other.Secret, now, forged), http.StatusUnauthorized},
		{"bank's key, addressed to other", misaddressed, api.SignCallback(bank, now, misaddressed), http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.postPartnerCallback(t, tc.body, tc.sig); got != tc.want {
				t.Errorf("sample partner answered %d, want %d", got, tc.want)
			}
		})
	}
	if st := s.partnerSession(t, f.CorrelationID); st.CallbackReceived || st.Details == nil || st.Details.Status != api.StatusPending {
		t.Errorf("after the forgeries the partner has callback %v, flow %+v; want none, PENDING", st.CallbackReceived, st.Details)
	}
	s.AssertUntouched(t, f)
	s.AssertStillWorks(t, s.Device, f)
}

// expireNow moves the deadline of flow f (and its user token) to now, as
// if its 15 minutes had passed: the gateway has no test clock and refuses
// user tokens shorter than a minute (see ExpireToken).
func (s *Stack) expireNow(t testing.TB, f Flow) {
	t.Helper()
	now := time.Now().Add(-time.Second)
	s.ExpireToken(t, f.UserToken, now)
	res, err := s.DB(t).Exec("UPDATE flows SET expires_at = ? WHERE partner_id = ? AND correlation_id = ?", now.UnixMicro(), f.Partner, f.CorrelationID)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("flow %s not found (%d rows)", f.CorrelationID, n)
	}
}

// metric reads one counter of the gateway's /metrics (0 when absent).
func (s *Stack) metric(t testing.TB, name string) string {
	t.Helper()
	r := s.Do(t, http.MethodGet, "/metrics", "", nil, nil)
	sc := bufio.NewScanner(bytes.NewReader(r.Body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return "0"
}

// TestCallbackExpiryAndRedelivery: on a private stack checking expiries
// every second, an abandoned flow ends EXPIRED (status, details) with one
// flow.expired callback, processed once by the sample partner; an
// operator's redelivery of that callback (`facegateway callbacks
// redeliver`, same delivery id) reaches the partner again and is
// acknowledged without being processed twice.
func TestCallbackExpiryAndRedelivery(t *testing.T) {
	s := Start(t, func(c *gateway.Config) { c.Processing.ExpiryInterval = time.Second })
	f := s.InitiateFlow(t, "person_a", NewCorrelation("cb-expired"))
	s.expireNow(t, f)
	var st partnerdemo.SessionState
	Eventually(t, decisionTimeout, "flow.expired callback at the sample partner", func() bool {
		st = s.partnerSession(t, f.CorrelationID)
		return st.CallbackReceived
	})
	cb := st.Callback
	if cb.Callback.Event != api.EventFlowExpired || cb.Callback.Status != api.StatusExpired || cb.Callback.PartnerID != PartnerA ||
		cb.KeyID != s.CallbackKeys[PartnerA].ID || cb.Count != 1 || cb.Processed != 1 {
		t.Errorf("partner recorded %+v, want one flow.expired EXPIRED callback signed with %s", cb, s.CallbackKeys[PartnerA].ID)
	}
	if st.Details == nil || st.Details.Status != api.StatusExpired || st.Details.CompletedAt == nil {
		t.Errorf("details %+v, want EXPIRED with completed_at", st.Details)
	}
	if r := s.Initiate(t, PartnerA, api.InitiateRequest{PartnerUserID: f.User, PartnerUserIDType: "account", Flow: api.FlowSelfie,
		CorrelationID: f.CorrelationID}); r.Code != http.StatusConflict || r.APIError().Code != api.CodeFlowFinal {
		t.Errorf("re-initiating the expired flow: %s, want 409 %s", r, api.CodeFlowFinal)
	}
	// Later expiry passes find nothing more to do: one flow expired, one
	// callback queued for it.
	Eventually(t, decisionTimeout, "the callback recorded as delivered", func() bool {
		return s.Count(t, "callbacks WHERE delivery_id = ? AND state = 'delivered'", cb.Callback.DeliveryID) == 1
	})
	if n := s.Count(t, "callbacks WHERE flow_id IN (SELECT id FROM flows WHERE correlation_id = ?)", f.CorrelationID); n != 1 {
		t.Errorf("%d callbacks queued for the expired flow, want 1", n)
	}
	if v := s.metric(t, "faceverify_gateway_flows_expired_total"); v != "1" {
		t.Errorf("flows_expired_total = %s, want 1", v)
	}

	// The operator redelivers it: same delivery id, processed once.
	out, err := s.cli("callbacks", "redeliver", "-db", s.DBPath, "-delivery", cb.Callback.DeliveryID)
	if err != nil || !strings.Contains(string(out), cb.Callback.DeliveryID+" queued again") {
		t.Fatalf("callbacks redeliver: %v: %s", err, out)
	}
	Eventually(t, decisionTimeout, "the redelivery at the sample partner", func() bool {
		st = s.partnerSession(t, f.CorrelationID)
		return st.Callback.Count == 2
	})
	if st.Callback.Processed != 1 || st.Callback.Callback.DeliveryID != cb.Callback.DeliveryID {
		t.Errorf("after the redelivery the partner processed it %d times (delivery %s), want once", st.Callback.Processed, st.Callback.Callback.DeliveryID)
	}
	Eventually(t, decisionTimeout, "the redelivery recorded as delivered", func() bool {
		return s.Count(t, "callbacks WHERE delivery_id = ? AND state = 'delivered' AND redeliveries = 1 AND last_error = ''", cb.Callback.DeliveryID) == 1
	})
	out, err = s.cli("callbacks", "list", "-db", s.DBPath, "-json")
	if err != nil {
		t.Fatalf("callbacks list: %v: %s", err, out)
	}
	var row struct {
		DeliveryID    string `json:"delivery_id"`
		Redeliveries  int    `json:"redeliveries"`
		PartnerUserID string `json:"partner_user_id"`
	}
	if err := json.Unmarshal(bytes.SplitN(out, []byte("\n"), 2)[0], &row); err != nil || row.DeliveryID != cb.Callback.DeliveryID ||
		row.Redeliveries != 1 || row.PartnerUserID != "" || bytes.Contains(out, []byte(f.User)) {
		t.Errorf("callbacks list -json: %s (%v); want the delivery, redelivered once, without the partner user id", out, err)
	}
}
