package attack

import (
	"net/http"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/gateway/api"
)

// TestMalformedRequests: malformed JSON, trailing data and a wrong
// Content-Type are refused (400 bad_request, 415 unsupported_media_type)
// on every JSON endpoint, and nothing is stored.
func TestMalformedRequests(t *testing.T) {
	s := Shared(t)
	f := s.InitiateFlow(t, "person_a", NewCorrelation("malformed"))
	partner := s.PartnerToken(t, PartnerA)
	validFlow := string(mustJSON(t, api.InitiateRequest{PartnerUserID: "person_a", PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: NewCorrelation("malformed")}))
	validSub := string(mustJSON(t, Submission(s.Device, FillerSelfie(t))))
	bad := []struct {
		name, body, contentType string
		status                  int
		code                    string
	}{
		{"truncated", `{"partner_user_id":`, "application/json", http.StatusBadRequest, api.CodeBadRequest},
		{"not JSON", `partner_user_id=x`, "application/json", http.StatusBadRequest, api.CodeBadRequest},
		{"wrong types", `{"partner_user_id":1,"selfie":{},"client_id":[]}`, "application/json", http.StatusBadRequest, api.CodeBadRequest},
		{"array", `[]`, "application/json", http.StatusBadRequest, api.CodeBadRequest},
		{"empty", ``, "application/json", http.StatusBadRequest, api.CodeBadRequest},
		{"trailing data", "VALID{}", "application/json", http.StatusBadRequest, api.CodeBadRequest},
		{"form content type", "VALID", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType},
		{"text content type", "VALID", "text/plain", http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType},
		{"bad content type", "VALID", "application/json; charset", http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType},
	}
	endpoints := []struct {
		path, token, valid string
		signed             bool
	}{
		{api.PathToken, "", string(mustJSON(t, api.TokenRequest{ClientID: PartnerA, Passkey: s.Passkeys[PartnerA]})), false},
		{api.PathFlows, partner, validFlow, false},
		{api.PathSubmissions, f.UserToken, validSub, true},
	}
	flows, tokens := s.Count(t, "flows"), s.Count(t, "tokens")
	for _, ep := range endpoints {
		for _, tc := range bad {
			t.Run(ep.path+"/"+tc.name, func(t *testing.T) {
				body := []byte(strings.Replace(tc.body, "VALID", ep.valid, 1))
				h := http.Header{"Content-Type": {tc.contentType}}
				if ep.signed { // a valid signature over the bad body: the body itself is refused
					h = s.SignedHeader(s.Device, f, body)
					h.Set("Content-Type", tc.contentType)
				}
				r := s.Do(t, http.MethodPost, ep.path, ep.token, h, body)
				if r.Code != tc.status || r.APIError().Code != tc.code {
					t.Errorf("got %s, want %d %s", r, tc.status, tc.code)
				}
			})
		}
	}
	if n := s.Count(t, "flows"); n != flows {
		t.Errorf("flows: %d after the malformed requests, %d before", n, flows)
	}
	if n := s.Count(t, "tokens"); n != tokens {
		t.Errorf("tokens: %d after the malformed requests, %d before", n, tokens)
	}
	s.AssertUntouched(t, f)
	s.AssertStillWorks(t, s.Device, f)
}

// TestSQLMetacharacters: SQL metacharacters never reach a query as SQL.
// In correlation_id (an identifier: [A-Za-z0-9._-]) they are refused by
// validation; in partner_user_id (free text) they are stored and answered
// verbatim; LIKE wildcards match nothing but themselves; and every table
// and row is still there afterwards.
func TestSQLMetacharacters(t *testing.T) {
	s := Shared(t)
	partner := s.PartnerToken(t, PartnerA)
	tables := func() []string {
		rows, err := s.DB(t).Query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			names = append(names, n)
		}
		return names
	}
	tablesBefore := strings.Join(tables(), ",")
	flows, devices := s.Count(t, "flows"), s.Count(t, "devices")

	refused := []string{
		`x' OR '1'='1`,
		`x'; DROP TABLE flows; --`,
		`x"; DELETE FROM tokens; --`,
		`x' UNION SELECT hash FROM tokens --`,
		`%`,
		`x/*`,
		`x;`,
		"x\x00",
	}
	for _, cid := range refused {
		r := s.PostJSON(t, api.PathFlows, partner, api.InitiateRequest{PartnerUserID: "person_a", PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: cid})
		if r.Code != http.StatusBadRequest || r.APIError().Code != api.CodeBadRequest {
			t.Errorf("correlation_id %q: %s, want 400", cid, r)
		}
		r = s.PostJSON(t, api.PathFlows, partner, api.InitiateRequest{PartnerUserID: "person_a", PartnerUserIDType: cid, Flow: api.FlowSelfie, CorrelationID: NewCorrelation("sqli")})
		if r.Code != http.StatusBadRequest {
			t.Errorf("partner_user_id_type %q: %s, want 400", cid, r)
		}
		if r, _ := s.Details(t, PartnerA, cid); r.Code != http.StatusNotFound {
			t.Errorf("details of %q: %s, want 404", cid, r)
		}
	}
	if n := s.Count(t, "flows"); n != flows {
		t.Fatalf("flows: %d after refused initiates, %d before", n, flows)
	}

	// Free text is data: stored and answered byte for byte.
	stored := []string{
		`O'Brien`,
		`x'; DROP TABLE flows; --`,
		`" OR ""="`,
		`x' UNION SELECT hash, kind FROM tokens --`,
		`%_%`,
		`\'; SELECT 1; /*`,
	}
	for i, user := range stored {
		cid := NewCorrelation("sqli") + strings.Repeat("-", i%2) + "--x" // "--" is valid in an id
		f := s.InitiateFlow(t, user, cid)
		r, d := s.Details(t, PartnerA, cid)
		if r.Code != http.StatusOK || d.PartnerUserID != user || d.CorrelationID != cid {
			t.Errorf("user %q: details %s (user %q, correlation %q)", user, r, d.PartnerUserID, d.CorrelationID)
		}
		var inDB string
		if err := s.DB(t).QueryRow("SELECT partner_user_id FROM flows WHERE partner_id = ? AND correlation_id = ?", PartnerA, cid).Scan(&inDB); err != nil || inDB != user {
			t.Errorf("user %q stored as %q (%v)", user, inDB, err)
		}
		s.AssertUntouched(t, f)
	}
	// LIKE wildcards in an id match only themselves. The id is new on
	// every run: the stack is shared by the package's tests and -count.
	wild := NewCorrelation("wild")
	s.InitiateFlow(t, "person_a", wild+"_card")
	if r, _ := s.Details(t, PartnerA, wild+"Xcard"); r.Code != http.StatusNotFound {
		t.Errorf("details of %sXcard after creating %s_card: %s, want 404", wild, wild, r)
	}
	if n, want := s.Count(t, "flows"), flows+len(stored)+1; n != want {
		t.Errorf("flows: %d, want %d", n, want)
	}
	if n := s.Count(t, "devices"); n != devices {
		t.Errorf("devices: %d, want %d", n, devices)
	}
	if after := strings.Join(tables(), ","); after != tablesBefore {
		t.Errorf("tables changed: %s → %s", tablesBefore, after)
	}
}
