package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestEnrollGatewayURL: `faceagent enroll --gateway` refuses a URL that
// would carry the enrollment token in clear text (exit 2, nothing sent, no
// key created) and never follows a gateway's redirect (exit 1, the target
// sees nothing).
func TestEnrollGatewayURL(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "device.key")
	cfgPath := filepath.Join(dir, "agent.toml")
	if err := os.WriteFile(cfgPath, []byte("[device]\nid = \"k1\"\n[identity]\nkey_file = \""+keyFile+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvEnrollToken, "enroll-token-0000000000")

	var targetHits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetHits.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()

	cases := []struct {
		name       string
		gateway    string
		wantCode   int
		wantStderr string
		wantKey    bool
	}{
		{"http to a LAN host", "http://192.0.2.10:8080", 2, "https", false},
		{"http to a host name", "http://gw.example.com", 2, "https", false},
		{"credentials in the URL", "https://u:p@gw.example.com", 2, "credentials", false},
		{"redirecting gateway", redirector.URL, 1, "redirect", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(keyFile)
			var stdout, stderr bytes.Buffer
			code := enrollMain(context.Background(), []string{"--config", cfgPath, "--gateway", tc.gateway}, &stdout, &stderr)
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr.String(), tc.wantCode, tc.wantStderr)
			}
			if _, err := os.Stat(keyFile); (err == nil) != tc.wantKey {
				t.Errorf("key file exists = %v, want %v", err == nil, tc.wantKey)
			}
		})
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("redirect target received %d requests, want none", n)
	}
}
