package control

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/internal/validate"
)

var launchSeeds = []string{
	`{"token":"t","correlation_id":"c","base_url":"https://gw.example.com"}`,
	`{"token":"t","correlationId":"c","baseURL":"http://127.0.0.1:8080","requestId":"r"}`,
	`{"token":"t","correlation_id":"a","correlationId":"b","base_url":"https://g"}`,
	`{"request_id":"x","token":5}`,
	`[]`, `null`, `{"base_url":"http://[::1]:80/"}`, `{} {}`, "{\"token\":\"\u0000\"}",
}

// FuzzDecodeLaunch is the MQTT verify command decoder: it must never panic,
// and anything it accepts and validates obeys the documented rules.
func FuzzDecodeLaunch(f *testing.F) {
	for _, s := range launchSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeLaunch(b)
		if err != nil {
			if _, ok := err.(*RequestError); !ok {
				t.Fatalf("error %T %v, want *RequestError", err, err)
			}
			return
		}
		if req.Validate(nil) != nil {
			return
		}
		if req.Token == "" || !validate.ID(req.CorrelationID, MaxCorrelationIDLen) || len(req.Token) > 4096 {
			t.Fatalf("validated %+v", req)
		}
		u, err := url.Parse(req.BaseURL)
		if err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && validate.LoopbackHost(u.Hostname()))) {
			t.Fatalf("validated base_url %q", req.BaseURL)
		}
	})
}

func TestLaunchCorrelationID(t *testing.T) {
	cases := []struct {
		name string
		id   string
		want bool
	}{
		{"letters digits dot underscore dash", "Ord-5531_a.b", true},
		{"one character", "c", true},
		{"128 characters", strings.Repeat("x", 128), true},
		{"empty", "", false},
		{"129 characters", strings.Repeat("x", 129), false},
		{"space", "ord 1", false},
		{"slash", "ord/1", false},
		{"colon", "ord:1", false},
		{"MQTT wildcard", "ord+1", false},
		{"non-ASCII", "ordé", false},
		{"control character", "ord\n1", false},
		{"dot", ".", false},
		{"dot dot", "..", false},
		{"three dots", "...", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := LaunchRequest{Token: "t", CorrelationID: tc.id, BaseURL: "https://gw.example.com"}
			if err := req.Validate(nil); (err == nil) != tc.want {
				t.Errorf("Validate with correlation_id %q = %v, want accepted %v", tc.id, err, tc.want)
			}
		})
	}
}

func TestDecodeLaunchExpiresAt(t *testing.T) {
	const base = `"token":"t","correlation_id":"c","base_url":"https://gw.example.com"`
	want := time.Date(2026, 12, 7, 10, 15, 0, 0, time.UTC)
	cases := []struct {
		name, body string
		want       time.Time
		field      string // "" = accepted
	}{
		{"absent", `{` + base + `}`, time.Time{}, ""},
		{"snake case", `{` + base + `,"expires_at":"2026-12-07T10:15:00Z"}`, want, ""},
		{"camel case with offset", `{` + base + `,"expiresAt":"2026-12-07T17:15:00+07:00"}`, want, ""},
		{"not a time", `{` + base + `,"expires_at":"in 15 minutes"}`, time.Time{}, "expires_at"},
		{"two spellings disagree", `{` + base + `,"expires_at":"2026-12-07T10:15:00Z","expiresAt":"2026-12-07T10:16:00Z"}`, time.Time{}, "expires_at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := DecodeLaunch([]byte(tc.body))
			if tc.field != "" {
				var re *RequestError
				if !errors.As(err, &re) || re.Field != tc.field {
					t.Fatalf("DecodeLaunch = %v, want a refusal naming %s", err, tc.field)
				}
				return
			}
			if err != nil || !req.TokenExpires.Equal(tc.want) {
				t.Fatalf("DecodeLaunch = %v, TokenExpires %v, want %v", err, req.TokenExpires, tc.want)
			}
		})
	}
}
