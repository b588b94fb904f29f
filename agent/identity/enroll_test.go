package identity

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faceverify/faceverify/internal/validate"
)

func TestCheckEnrollURL(t *testing.T) {
	cases := []struct {
		name string
		url  string
		ok   bool
	}{
		{"https", "https://gw.example.com", true},
		{"https with a path", "https://gw.example.com/faceverify", true},
		{"https with a port", "https://10.0.0.5:8443", true},
		{"http to 127.0.0.1", "http://127.0.0.1:8080", true},
		{"http to localhost", "http://localhost:8080", true},
		{"http to ::1", "http://[::1]:8080", true},
		{"http to a host name", "http://gw.example.com", false},
		{"http to a LAN address", "http://10.0.0.5:8080", false},
		{"http to a name that starts like localhost", "http://localhost.example.com", false},
		{"ftp", "ftp://gw.example.com", false},
		{"no scheme", "gw.example.com", false},
		{"empty", "", false},
		{"credentials", "https://u:p@gw.example.com", false},
		{"query", "https://gw.example.com/?x=1", false},
		{"fragment", "https://gw.example.com/#f", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckEnrollURL(tc.url)
			if tc.ok != (err == nil) {
				t.Fatalf("CheckEnrollURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInsecureEnrollURL) {
				t.Errorf("error %v does not wrap ErrInsecureEnrollURL", err)
			}
		})
	}
}

// recordingTransport counts round trips and answers none of them.
type recordingTransport struct{ n atomic.Int32 }

func (r *recordingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	r.n.Add(1)
	return nil, errors.New("no network in this test")
}

// TestEnrollRefusesPlaintextBeforeSending: the token never leaves over
// http to a host other than loopback, whatever client is given.
func TestEnrollRefusesPlaintextBeforeSending(t *testing.T) {
	rt := &recordingTransport{}
	id := newID(t, "kiosk-p")
	for _, u := range []string{"http://gw.example.com", "http://192.168.1.10:8080", "ws://gw.example.com"} {
		_, _, err := Enroll(context.Background(), &http.Client{Transport: rt}, u, "enroll-token-0000000000", "", id)
		if !errors.Is(err, ErrInsecureEnrollURL) {
			t.Errorf("Enroll(%s) = %v, want ErrInsecureEnrollURL", u, err)
		}
	}
	if n := rt.n.Load(); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

// TestEnrollDoesNotFollowRedirects: a gateway that redirects gets an
// error, and the redirect target never sees the token, also when the
// caller's client would follow redirects.
func TestEnrollDoesNotFollowRedirects(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	defer target.Close()
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+r.URL.Path, code)
		}))
		for name, client := range map[string]*http.Client{"nil client": nil, "following client": {}} {
			_, _, err := Enroll(context.Background(), client, redirector.URL, "enroll-token-0000000000", "", newID(t, "kiosk-r"))
			if !errors.Is(err, ErrEnrollRedirect) {
				t.Errorf("%d, %s: err = %v, want ErrEnrollRedirect", code, name, err)
			}
		}
		redirector.Close()
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("redirect target received %d requests, want none", n)
	}
}

// TestEnrollClientBounds: Enroll's client always has a timeout and a
// redirect policy, keeps the caller's own timeout and transport, and
// leaves the caller's client untouched.
func TestEnrollClientBounds(t *testing.T) {
	if c := enrollClient(nil); c.Timeout != EnrollTimeout || c.CheckRedirect == nil {
		t.Errorf("nil client: timeout %v, redirect policy set %v", c.Timeout, c.CheckRedirect != nil)
	}
	rt := &recordingTransport{}
	caller := &http.Client{Transport: rt}
	c := enrollClient(caller)
	if c.Timeout != EnrollTimeout || c.CheckRedirect == nil || c.Transport != rt {
		t.Errorf("client without a timeout: timeout %v, redirect policy %v, transport kept %v", c.Timeout, c.CheckRedirect != nil, c.Transport == rt)
	}
	if caller.Timeout != 0 || caller.CheckRedirect != nil {
		t.Error("the caller's client was modified")
	}
	if c := enrollClient(&http.Client{Timeout: 5 * time.Second}); c.Timeout != 5*time.Second {
		t.Errorf("caller's timeout replaced: %v", c.Timeout)
	}
}

// TestEnrollTimesOut: a gateway that never answers ends in a timeout
// error, not a hang (the caller's short timeout stands in for
// EnrollTimeout).
func TestEnrollTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	_, _, err := Enroll(context.Background(), &http.Client{Timeout: 50 * time.Millisecond}, srv.URL, "enroll-token-0000000000", "", newID(t, "kiosk-t"))
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("err = %v, want a timeout", err)
	}
}

// FuzzCheckEnrollURL: an accepted URL is https, or http to a loopback
// host, with a host and no credentials, query or fragment.
func FuzzCheckEnrollURL(f *testing.F) {
	for _, s := range []string{"https://gw.example.com", "http://127.0.0.1:8080", "http://[::1]", "http://gw", "https://u@gw", "HTTP://LOCALHOST"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if CheckEnrollURL(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("accepted %q", raw)
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && validate.LoopbackHost(u.Hostname())) {
			t.Fatalf("accepted %q over %s", raw, u.Scheme)
		}
	})
}
