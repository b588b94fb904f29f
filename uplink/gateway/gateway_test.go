package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/uplink"
)

func TestSubmitSendsTokenKeyAndBody(t *testing.T) {
	var got api.SubmissionRequest
	var auth, key string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != api.PathSubmissions || r.Method != http.MethodPost {
			http.Error(w, "wrong route", 404)
			return
		}
		auth, key = r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key")
		json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(api.SubmissionResponse{SubmissionID: "sub-1", Attempt: 1, Status: api.StatusProcessing})
	}))
	defer srv.Close()
	c := New(Options{})
	resp, err := c.Submit(context.Background(), srv.URL+"/", "tok", api.SubmissionRequest{Selfie: []byte{0xff, 0xd8}, DeviceID: "k1", IdempotencyKey: "s-1"}, uplink.SubmitInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.SubmissionID != "sub-1" || auth != "Bearer tok" || key != "s-1" || got.DeviceID != "k1" || len(got.Selfie) != 2 {
		t.Errorf("resp %+v auth %q key %q body %+v", resp, auth, key, got)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   uplink.Class
		is     error
		code   string // uplink.ErrorCode; "" not checked
	}{
		{"401 invalid token", 401, `{"code":"invalid_token","message":"unknown token"}`, uplink.ClassUnauthorized, uplink.ErrUnauthorized, ""},
		{"401 token expired code", 401, `{"code":"token_expired","message":"expired"}`, uplink.ClassExpired, uplink.ErrTokenExpired, ""},
		{"410 gone", 410, `{"code":"gone"}`, uplink.ClassExpired, uplink.ErrTokenExpired, ""},
		{"409 conflict", 409, `{"code":"attempts_exhausted"}`, uplink.ClassConflict, uplink.ErrConflict, "attempts_exhausted"},
		{"409 flow final", 409, `{"code":"flow_final","message":"decided"}`, uplink.ClassConflict, uplink.ErrConflict, "flow_final"},
		{"403 unknown device", 403, `{"code":"unknown_device"}`, uplink.ClassUnauthorized, uplink.ErrUnauthorized, "unknown_device"},
		{"403 revoked device", 403, `{"code":"revoked_device"}`, uplink.ClassUnauthorized, uplink.ErrUnauthorized, "revoked_device"},
		{"401 clock skew is not an expired token", 401, `{"code":"clock_skew"}`, uplink.ClassUnauthorized, uplink.ErrUnauthorized, "clock_skew"},
		{"401 bad signature", 401, `{"code":"bad_signature"}`, uplink.ClassUnauthorized, uplink.ErrUnauthorized, "bad_signature"},
		{"400 permanent", 400, `{"code":"bad_request"}`, uplink.ClassPermanent, nil, ""},
		{"413 permanent", 413, ``, uplink.ClassPermanent, nil, ""},
		{"429 temporary", 429, ``, uplink.ClassTemporary, nil, ""},
		{"503 temporary", 503, `oops`, uplink.ClassTemporary, nil, ""},
		{"200 with garbage body", 200, `not json`, uplink.ClassPermanent, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			_, err := New(Options{}).Status(context.Background(), srv.URL, "tok")
			if got := uplink.Classify(err); got != tc.want {
				t.Errorf("Classify(%v) = %v, want %v", err, got, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
			if tc.code != "" && uplink.ErrorCode(err) != tc.code {
				t.Errorf("ErrorCode(%v) = %q, want %q", err, uplink.ErrorCode(err), tc.code)
			}
		})
	}
}

func TestNetworkErrorIsTemporary(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := New(Options{}).Status(context.Background(), url, "tok")
	if uplink.Classify(err) != uplink.ClassTemporary {
		t.Errorf("connection refused: %v classified %v, want temporary", err, uplink.Classify(err))
	}
}

func TestTimeoutIsTemporary(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	_, err := New(Options{StatusTimeout: 100 * time.Millisecond}).Status(context.Background(), srv.URL, "tok")
	if uplink.Classify(err) != uplink.ClassTemporary {
		t.Errorf("timeout: %v classified %v, want temporary", err, uplink.Classify(err))
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("timeout not enforced: %v", time.Since(start))
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var leaked bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked = r.Header.Get("Authorization") != ""
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+api.PathStatus, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	_, err := New(Options{}).Status(context.Background(), srv.URL, "tok")
	if err == nil || leaked {
		t.Errorf("redirect followed: err %v leaked %v", err, leaked)
	}
}
