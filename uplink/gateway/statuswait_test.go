package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
)

// roundTripper answers every request with status and records it.
type roundTripper struct {
	body     string
	url      string
	deadline time.Time
	sent     time.Time
}

func (rt *roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.url, rt.sent = r.URL.String(), time.Now()
	rt.deadline, _ = r.Context().Deadline()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(rt.body)), Request: r}, nil
}

func TestStatusWait(t *testing.T) {
	body, _ := json.Marshal(api.StatusResponse{Status: api.StatusVerified, NextAction: api.ActionExit})
	for _, tc := range []struct {
		name     string
		wait     time.Duration
		query    string
		minTotal time.Duration // the request's timeout is at least this
	}{
		{"long poll", 20 * time.Second, "?wait=20s", 20*time.Second + 5*time.Second},
		{"sub-second", 1500 * time.Millisecond, "?wait=1.5s", 1500*time.Millisecond + 5*time.Second},
		{"no wait is a plain poll", 0, "", 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &roundTripper{body: string(body)}
			c := New(Options{StatusTimeout: 5 * time.Second, Transport: rt})
			st, err := c.StatusWait(context.Background(), "https://gw.example/", "tok", tc.wait)
			if err != nil || st.NextAction != api.ActionExit {
				t.Fatalf("StatusWait: %+v %v", st, err)
			}
			if want := "https://gw.example" + api.PathStatus + tc.query; rt.url != want {
				t.Errorf("url %q, want %q", rt.url, want)
			}
			// The timeout outlasts the wait: the deadline is the wait plus
			// the status timeout after the call, not the status timeout.
			if got := rt.deadline.Sub(rt.sent); got < tc.minTotal-time.Second || got > tc.minTotal {
				t.Errorf("request timeout %v, want about %v", got, tc.minTotal)
			}
		})
	}
}
