package attack

import (
	"net/http"
	"testing"

	"github.com/faceverify/faceverify/gateway/api"
)

// TestStatusWaitNeedsTokenFirst: GET /v1/status checks the user token
// before the wait parameter: without a valid user token every malformed
// wait is 401 invalid_token, exactly as a well-formed one, so a caller
// learns nothing about how the query is parsed; with the user token a
// malformed wait is 400. The flow is untouched.
func TestStatusWaitNeedsTokenFirst(t *testing.T) {
	s := Shared(t)
	f := s.InitiateFlow(t, "person_a", NewCorrelation("status-wait"))
	partner := s.PartnerToken(t, PartnerA)
	for _, tc := range []struct {
		name, token, query string
		code               int
		errCode            string
	}{
		{"no token, bad wait", "", "?wait=bad", http.StatusUnauthorized, api.CodeInvalidToken},
		{"no token, good wait", "", "?wait=1s", http.StatusUnauthorized, api.CodeInvalidToken},
		{"no token, bare number", "", "?wait=20", http.StatusUnauthorized, api.CodeInvalidToken},
		{"forged token, negative wait", "forged-" + randomHex(16), "?wait=-5s", http.StatusUnauthorized, api.CodeInvalidToken},
		{"partner token, bad wait", partner, "?wait=bad", http.StatusUnauthorized, api.CodeInvalidToken},
		{"user token, bad wait", f.UserToken, "?wait=bad", http.StatusBadRequest, api.CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do(t, http.MethodGet, api.PathStatus+tc.query, tc.token, nil, nil)
			if r.Code != tc.code || r.APIError().Code != tc.errCode {
				t.Errorf("GET %s%s: %s, want %d %s", api.PathStatus, tc.query, r, tc.code, tc.errCode)
			}
		})
	}
	s.AssertUntouched(t, f)
	s.AssertStillWorks(t, s.Device, f)
}
