package control

import (
	"errors"
	"testing"
	"time"
)

func TestCheckExpiry(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		expires time.Time
		refused bool
	}{
		{"absent", time.Time{}, false},
		{"in the future", now.Add(15 * time.Minute), false},
		{"one second ahead", now.Add(time.Second), false},
		{"now", now, true},
		{"one second ago", now.Add(-time.Second), true},
		{"yesterday", now.Add(-24 * time.Hour), true},
		{"future in another zone", now.Add(time.Minute).In(time.FixedZone("WIB", 7*3600)), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := LaunchRequest{Token: "t", CorrelationID: "c", BaseURL: "https://gw.example.com", TokenExpires: tc.expires}
			err := req.CheckExpiry(now)
			if !tc.refused {
				if err != nil {
					t.Fatalf("CheckExpiry = %v, want accepted", err)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) || re.Code != "bad_request" || re.Field != "expires_at" {
				t.Fatalf("CheckExpiry = %v, want bad_request naming expires_at", err)
			}
			if f := FailureOf(err); f.HTTPStatus != 400 || f.Field != "expires_at" {
				t.Errorf("FailureOf = %+v, want 400 naming expires_at", f)
			}
		})
	}
}
