package partnerdemo_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestServesWebSDK: the sample partner serves the Web SDK and the example
// kiosk page that imports it.
func TestServesWebSDK(t *testing.T) {
	p := newPartner(t, "http://127.0.0.1:1", time.Now)
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path, wantType, wantBody string
		wantCode                 int
	}{
		{"/kiosk/faceverify.js", "text/javascript", "export async function launchSelfieVerification", 200},
		{"/kiosk/faceverify.d.ts", "", "launchSelfieVerification", 200},
		{"/kiosk/example.html", "text/html", `from "./faceverify.js"`, 200},
		{"/kiosk/", "", "", http.StatusFound},
		{"/kiosk/missing.js", "", "", http.StatusNotFound},
	} {
		resp, err := noRedirect.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.wantCode || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.wantType) ||
			!strings.Contains(string(b), tc.wantBody) {
			t.Errorf("GET %s: %d %q, want %d %q containing %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.wantCode, tc.wantType, tc.wantBody)
		}
		if tc.wantCode == http.StatusFound && resp.Header.Get("Location") != "/kiosk/example.html" {
			t.Errorf("GET %s: Location %q", tc.path, resp.Header.Get("Location"))
		}
	}
}
