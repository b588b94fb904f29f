package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestDeviceSignature(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Unix(1_790_000_000, 0)
	body := []byte(`{"selfie":"..."}`)
	dev, ts, sig := SignDevice(priv, "kiosk-1", "corr-1", now, body)
	at, err := VerifyDevice(pub, dev, "corr-1", ts, sig, body)
	if err != nil || !at.Equal(now) {
		t.Fatalf("verify: %v %v", at, err)
	}
	cases := []struct {
		name               string
		dev, corr, ts, sig string
		body               []byte
	}{
		{"other device", "kiosk-2", "corr-1", ts, sig, body},
		{"other flow", dev, "corr-2", ts, sig, body},
		{"other time", dev, "corr-1", strconv.FormatInt(now.Unix()+1, 10), sig, body},
		{"other body", dev, "corr-1", ts, sig, []byte(`{"selfie":".."}`)},
		{"bad timestamp", dev, "corr-1", "soon", sig, body},
		{"bad signature", dev, "corr-1", ts, "AAAA", body},
	}
	for _, tc := range cases {
		if _, err := VerifyDevice(pub, tc.dev, tc.corr, tc.ts, tc.sig, tc.body); !errors.Is(err, ErrDeviceSignature) {
			t.Errorf("%s: %v, want ErrDeviceSignature", tc.name, err)
		}
	}
}

func FuzzVerifyDevice(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, ts, sig := SignDevice(priv, "k", "c", time.Unix(1_790_000_000, 0), []byte("b"))
	f.Add("k", "c", ts, sig, []byte("b"))
	f.Add("", "", "-1", "=", []byte{})
	f.Fuzz(func(t *testing.T, dev, corr, ts, sig string, body []byte) {
		if _, err := VerifyDevice(pub, dev, corr, ts, sig, body); err != nil && !errors.Is(err, ErrDeviceSignature) {
			t.Errorf("unclassified error %v", err)
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	f.Add("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParsePublicKey(s); err == nil && len(k) != ed25519.PublicKeySize {
			t.Errorf("accepted %d bytes", len(k))
		}
	})
}
