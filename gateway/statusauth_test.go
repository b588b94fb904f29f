package gateway_test

import (
	"net/http"
	"testing"

	"github.com/faceverify/faceverify/gateway/api"
)

// TestStatusAuthenticatesBeforeWait: GET /v1/status checks the user token
// before the wait parameter, so a caller without a valid token gets 401
// whatever wait says and learns nothing about how it is parsed; with a
// valid token a malformed wait is 400.
func TestStatusAuthenticatesBeforeWait(t *testing.T) {
	e := verifiedEnv(t)
	tok, _ := e.initiate("alice")
	for _, tc := range []struct {
		name, token, query string
		code               int
		errCode            string
	}{
		{"no token, bad wait", "", "?wait=bad", http.StatusUnauthorized, api.CodeInvalidToken},
		{"no token, negative wait", "", "?wait=-1s", http.StatusUnauthorized, api.CodeInvalidToken},
		{"unknown token, bad wait", "not-a-token", "?wait=bad", http.StatusUnauthorized, api.CodeInvalidToken},
		{"partner token, bad wait", e.partnerToken(), "?wait=bad", http.StatusUnauthorized, api.CodeInvalidToken},
		{"user token, bad wait", tok, "?wait=bad", http.StatusBadRequest, api.CodeBadRequest},
		{"user token, no unit", tok, "?wait=20", http.StatusBadRequest, api.CodeBadRequest},
		{"user token, good wait", tok, "?wait=0s", http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := getStatus(e.url, tc.token, tc.query)
			if a.code != tc.code || a.err.Code != tc.errCode {
				t.Errorf("GET /v1/status%s: %d %+v, want %d %q", tc.query, a.code, a.err, tc.code, tc.errCode)
			}
		})
	}
}
