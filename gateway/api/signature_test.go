package api

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	k1 = CallbackKey{ID: "k1", Secret: []byte("first-callback-secret-0123456789ab")}
	k2 = CallbackKey{ID: "k2", Secret: []byte("second-callback-secret-0123456789a")}
)

func TestVerifyCallback(t *testing.T) {
	now := time.Unix(1_790_000_000, 0)
	body := []byte(`{"delivery_id":"dlv_1","partner_id":"acme"}`)
	tests := []struct {
		name    string
		keys    []CallbackKey
		header  string
		body    []byte
		wantKID string
		wantErr string // "" = valid
	}{
		{"signing key", []CallbackKey{k1}, SignCallback(k1, now, body), body, "k1", ""},
		{"old key during rotation", []CallbackKey{k2, k1}, SignCallback(k1, now, body), body, "k1", ""},
		{"new key during rotation", []CallbackKey{k2, k1}, SignCallback(k2, now, body), body, "k2", ""},
		{"key without id matches any kid", []CallbackKey{{Secret: k1.Secret}}, SignCallback(k1, now, body), body, "k1", ""},
		{"header without kid (older gateway)", []CallbackKey{k2, k1}, Sign(k1.Secret, now, body), body, "k1", ""},
		{"unknown kid", []CallbackKey{k1}, SignCallback(k2, now, body), body, "", "unknown key id"},
		{"known kid, other secret", []CallbackKey{k1}, SignCallback(CallbackKey{ID: "k1", Secret: k2.Secret}, now, body), body, "", "mismatch"},
		{"no kid, no key matches", []CallbackKey{k1}, Sign(k2.Secret, now, body), body, "", "mismatch"},
		{"body changed", []CallbackKey{k1}, SignCallback(k1, now, body), append([]byte(" "), body...), "", "mismatch"},
		{"two kids", []CallbackKey{k1}, "kid=k2," + SignCallback(k1, now, body), body, "", "malformed"},
		{"stale", []CallbackKey{k1}, SignCallback(k1, now.Add(-6*time.Minute), body), body, "", "timestamp"},
		{"future", []CallbackKey{k1}, SignCallback(k1, now.Add(6*time.Minute), body), body, "", "timestamp"},
		{"empty", []CallbackKey{k1}, "", body, "", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kid, err := VerifyCallback(tt.keys, tt.header, tt.body, now, 5*time.Minute)
			if tt.wantErr == "" {
				if err != nil || kid != tt.wantKID {
					t.Fatalf("VerifyCallback = %q, %v; want %q", kid, err, tt.wantKID)
				}
				return
			}
			if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("VerifyCallback = %q, %v; want ErrBadSignature (%s)", kid, err, tt.wantErr)
			}
		})
	}
}

// TestSignCallbackHeader: the header names the key id and still verifies
// with VerifySignature (which ignores kid), so single-secret partners keep
// working.
func TestSignCallbackHeader(t *testing.T) {
	now := time.Unix(1_790_000_000, 0)
	h := SignCallback(k1, now, []byte("b"))
	if !strings.HasPrefix(h, "t=1790000000,kid=k1,v1=") || len(h) != len("t=1790000000,kid=k1,v1=")+64 {
		t.Errorf("header %q", h)
	}
	if err := VerifySignature(k1.Secret, h, []byte("b"), now, time.Minute); err != nil {
		t.Errorf("VerifySignature: %v", err)
	}
}

func FuzzVerifyCallback(f *testing.F) {
	now := time.Unix(1_790_000_000, 0)
	f.Add(SignCallback(k1, now, []byte("b")), []byte("b"))
	f.Add("t=1,kid=,v1=zz,kid", []byte{})
	f.Add(",,=,t==,v1=", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		kid, err := VerifyCallback([]CallbackKey{k1, k2}, header, body, now, 5*time.Minute)
		if err != nil {
			if !errors.Is(err, ErrBadSignature) {
				t.Errorf("unclassified error %v", err)
			}
			return
		}
		if kid != "k1" && kid != "k2" {
			t.Errorf("verified with key id %q", kid)
		}
	})
}
