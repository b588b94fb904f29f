package control

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	g := Guard(ok, true, []string{"http://localhost:3000/"})
	open := Guard(ok, false, nil)
	cases := []struct {
		name    string
		h       http.Handler
		method  string
		host    string
		origin  string
		ctype   string
		body    string
		status  int
		allowed string // Access-Control-Allow-Origin
	}{
		{"loopback host passes", g, "GET", "127.0.0.1:8470", "", "", "", http.StatusTeapot, ""},
		{"localhost passes", g, "GET", "localhost:8470", "", "", "", http.StatusTeapot, ""},
		{"rebinding host refused", g, "GET", "evil.example:8470", "", "", "", http.StatusForbidden, ""},
		{"any host when not loopback-only", open, "GET", "kiosk.lan:8470", "", "", "", http.StatusTeapot, ""},
		{"same origin needs no CORS", g, "GET", "127.0.0.1:8470", "http://127.0.0.1:8470", "", "", http.StatusTeapot, ""},
		{"foreign origin refused", g, "GET", "127.0.0.1:8470", "http://evil.example", "", "", http.StatusForbidden, ""},
		{"allowed origin", g, "GET", "127.0.0.1:8470", "http://localhost:3000", "", "", http.StatusTeapot, "http://localhost:3000"},
		{"preflight", g, "OPTIONS", "127.0.0.1:8470", "http://localhost:3000", "", "", http.StatusNoContent, "http://localhost:3000"},
		{"form post refused", g, "POST", "127.0.0.1:8470", "", "text/plain", "x", http.StatusUnsupportedMediaType, ""},
		{"json post passes", g, "POST", "127.0.0.1:8470", "", "application/json; charset=utf-8", "{}", http.StatusTeapot, ""},
		{"empty post passes", g, "POST", "127.0.0.1:8470", "", "", "", http.StatusTeapot, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/v1/verify", strings.NewReader(tc.body))
			r.Host = tc.host
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			w := httptest.NewRecorder()
			tc.h.ServeHTTP(w, r)
			if w.Code != tc.status || w.Header().Get("Access-Control-Allow-Origin") != tc.allowed {
				t.Errorf("%d (allow-origin %q), want %d (%q): %s", w.Code, w.Header().Get("Access-Control-Allow-Origin"), tc.status, tc.allowed, w.Body)
			}
		})
	}
}
