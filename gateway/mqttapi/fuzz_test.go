package mqttapi

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzVerify: any payload either fails verification or carries a body
// whose signature the secret produced, with a fresh nonce and a timestamp
// inside the window; Verify never panics.
var testSecret = []byte("test-command-secret-0123456789abcdef")

func FuzzVerify(f *testing.F) {
	now := time.Unix(1_750_000_000, 0)
	topic := "faceverify/k1/cmd/identify"
	good, _ := SignCommand(testSecret, topic, "r1", now, map[string]any{"duration_ms": 2000})
	f.Add(good)
	f.Add([]byte(`{"v":1,"body":{"request_id":"r","ts":1750000000,"nonce":"abcdefgh"},"sig":"00"}`))
	f.Add([]byte(`{"request_id":"plain"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		v := NewVerifier(testSecret, time.Minute, func() time.Time { return now })
		body, h, err := v.Verify(topic, payload)
		if len(h.RequestID) > 128 {
			t.Fatalf("request id of %d bytes", len(h.RequestID))
		}
		if err != nil {
			return
		}
		var env CommandEnvelope
		if json.Unmarshal(payload, &env) != nil || !bytes.Equal(env.Body, body) || env.Sig != Signature(testSecret, topic, body) {
			t.Fatalf("accepted a payload not signed with the secret: %s", payload)
		}
		if d := now.Sub(time.Unix(h.TS, 0)); d > time.Minute || d < -time.Minute {
			t.Fatalf("accepted ts %d outside the window", h.TS)
		}
		if _, _, err := v.Verify(topic, payload); err == nil {
			t.Fatal("the same payload was accepted twice")
		}
	})
}
