package mqttapi

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeNow is a settable clock for Verifier tests.
type fakeNow struct{ t time.Time }

func (f *fakeNow) now() time.Time { return f.t }

const signTopic = "faceverify/k1/cmd/identify"

func mustSign(t *testing.T, requestID string, at time.Time) []byte {
	t.Helper()
	p, err := SignCommand(testSecret, signTopic, requestID, at, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVerifierRestartRefusesReplay: a command accepted before a restart
// is refused as replayed by a verifier opened on the same nonce file,
// while a command signed just before the restart and not yet used still
// passes (the persisted set, not a start-time floor).
func TestVerifierRestartRefusesReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), NonceFile)
	clk := &fakeNow{t: time.Unix(1_750_000_000, 0)}
	used := mustSign(t, "r-used", clk.t)
	unused := mustSign(t, "r-unused", clk.t.Add(10*time.Second))

	v1 := OpenVerifier(testSecret, time.Minute, clk.now, path)
	if !v1.Floor().IsZero() {
		t.Fatalf("a missing nonce file gave floor %v", v1.Floor())
	}
	if _, _, err := v1.Verify(signTopic, used); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("nonce file: %v, mode %v; want it written 0600", err, st.Mode().Perm())
	}

	clk.t = clk.t.Add(20 * time.Second) // restarted 20 s later, within the window
	v2 := OpenVerifier(testSecret, time.Minute, clk.now, path)
	if !v2.Floor().IsZero() {
		t.Fatalf("a good nonce file gave floor %v", v2.Floor())
	}
	if _, _, err := v2.Verify(signTopic, used); !errors.Is(err, ErrReplayed) {
		t.Errorf("replay after the restart: err = %v, want ErrReplayed", err)
	}
	if _, h, err := v2.Verify(signTopic, unused); err != nil || h.RequestID != "r-unused" {
		t.Errorf("command signed before the restart, first use: %v", err)
	}
	// The second verifier's nonce reaches the file too.
	v3 := OpenVerifier(testSecret, time.Minute, clk.now, path)
	for _, p := range [][]byte{used, unused} {
		if _, _, err := v3.Verify(signTopic, p); !errors.Is(err, ErrReplayed) {
			t.Errorf("after a second restart: err = %v, want ErrReplayed", err)
		}
	}
}

// TestVerifierMemoryOnlyRefusesCommandsFromBeforeItStarted: without a
// nonce file, a restart forgets the nonces, so commands signed before the
// verifier started are refused as expired.
func TestVerifierMemoryOnlyRefusesCommandsFromBeforeItStarted(t *testing.T) {
	clk := &fakeNow{t: time.Unix(1_750_000_000, 0)}
	p := mustSign(t, "r1", clk.t)
	if _, _, err := NewVerifier(testSecret, time.Minute, clk.now).Verify(signTopic, p); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	clk.t = clk.t.Add(5 * time.Second)
	v := NewVerifier(testSecret, time.Minute, clk.now)
	if _, _, err := v.Verify(signTopic, p); !errors.Is(err, ErrExpired) || ReplyCode(err) != "expired" {
		t.Errorf("replay to a restarted memory-only verifier: err = %v, want ErrExpired", err)
	}
	if _, _, err := v.Verify(signTopic, mustSign(t, "r2", clk.t)); err != nil {
		t.Errorf("command signed after the start: %v", err)
	}
}

// TestVerifierNonceFilePrunes: expired nonces leave the file on the next
// write and are not loaded again.
func TestVerifierNonceFilePrunes(t *testing.T) {
	path := filepath.Join(t.TempDir(), NonceFile)
	clk := &fakeNow{t: time.Unix(1_750_000_000, 0)}
	v := OpenVerifier(testSecret, time.Minute, clk.now, path)
	old := mustSign(t, "r-old", clk.t)
	if _, _, err := v.Verify(signTopic, old); err != nil {
		t.Fatal(err)
	}
	var oldEnv CommandEnvelope
	var oldHdr CommandHeader
	json.Unmarshal(old, &oldEnv)
	json.Unmarshal(oldEnv.Body, &oldHdr)

	clk.t = clk.t.Add(2*time.Minute + 2*time.Second) // past ts + window + 1 s
	if _, _, err := v.Verify(signTopic, mustSign(t, "r-new", clk.t)); err != nil {
		t.Fatal(err)
	}
	var f nonceFileBody
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Nonces[oldHdr.Nonce]; ok || len(f.Nonces) != 1 {
		t.Errorf("nonce file holds %d nonces (expired one present: %v), want only the new one", len(f.Nonces), ok)
	}

	// An expired entry written by hand is not loaded.
	f.Nonces["expired-nonce-0001"] = clk.t.Add(-time.Second)
	b, _ = json.Marshal(f)
	os.WriteFile(path, b, 0o600)
	v2 := OpenVerifier(testSecret, time.Minute, clk.now, path)
	if _, ok := v2.seen["expired-nonce-0001"]; ok || len(v2.seen) != 1 || !v2.Floor().IsZero() {
		t.Errorf("loaded %d nonces (expired one present: %v), floor %v", len(v2.seen), ok, v2.Floor())
	}
}

// TestVerifierCorruptNonceFile: an unreadable nonce file falls back to
// refusing commands signed before the start, and is rewritten.
func TestVerifierCorruptNonceFile(t *testing.T) {
	clk := &fakeNow{t: time.Unix(1_750_000_000, 0)}
	before := mustSign(t, "r-before", clk.t.Add(-3*time.Second))
	tooMany := nonceFileBody{V: nonceFileVersion, Nonces: map[string]time.Time{}}
	for i := 0; i <= maxNonces; i++ {
		tooMany.Nonces[NewNonce()] = clk.t.Add(time.Minute)
	}
	tooManyJSON, _ := json.Marshal(tooMany)
	for _, tc := range []struct {
		name, content string
	}{
		{"cut short", `{"v":1,"nonces":{"abcdefgh":`},
		{"other version", `{"v":2,"nonces":{}}`},
		{"invalid nonce", `{"v":1,"nonces":{"a b":"2030-01-01T00:00:00Z"}}`},
		{"beyond the bound", string(tooManyJSON)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), NonceFile)
			os.WriteFile(path, []byte(tc.content), 0o600)
			v := OpenVerifier(testSecret, time.Minute, clk.now, path)
			if !v.Floor().Equal(clk.t) {
				t.Fatalf("floor %v, want the start %v", v.Floor(), clk.t)
			}
			if _, _, err := v.Verify(signTopic, before); !errors.Is(err, ErrExpired) {
				t.Errorf("command signed before the start: err = %v, want ErrExpired", err)
			}
			if _, _, err := v.Verify(signTopic, mustSign(t, "r-after", clk.t)); err != nil {
				t.Fatalf("command after the start: %v", err)
			}
			if v2 := OpenVerifier(testSecret, time.Minute, clk.now, path); !v2.Floor().IsZero() {
				t.Error("the nonce file was not rewritten readable")
			}
		})
	}
}

// TestVerifierRefusesWhenTheNonceCannotBeStored: a command is not run
// unless its nonce reached the file.
func TestVerifierRefusesWhenTheNonceCannotBeStored(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	os.Mkdir(dir, 0o700)
	clk := &fakeNow{t: time.Unix(1_750_000_000, 0)}
	v := OpenVerifier(testSecret, time.Minute, clk.now, filepath.Join(dir, NonceFile))
	os.Remove(dir)
	p := mustSign(t, "r1", clk.t)
	_, h, err := v.Verify(signTopic, p)
	if !errors.Is(err, ErrNonceStore) || ReplyCode(err) != "internal" || h.RequestID != "r1" {
		t.Errorf("err = %v (code %q, request id %q), want ErrNonceStore / internal / r1", err, ReplyCode(err), h.RequestID)
	}
	if _, _, err := v.Verify(signTopic, p); !errors.Is(err, ErrReplayed) {
		t.Errorf("the same command again: err = %v, want ErrReplayed", err)
	}
}

// FuzzNonceFile: any nonce file content opens without panicking, and
// either is refused as a whole (the start-time floor applies) or yields
// only valid, unexpired nonces within the bound.
func FuzzNonceFile(f *testing.F) {
	f.Add([]byte(`{"v":1,"nonces":{"abcdefgh":"2030-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"v":1,"nonces":{}}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":1,"nonces":{"a":"x"}}`))
	now := time.Unix(1_750_000_000, 0)
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(t.TempDir(), NonceFile)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		v := OpenVerifier(testSecret, time.Minute, func() time.Time { return now }, path)
		if !v.Floor().IsZero() {
			if len(v.seen) != 0 {
				t.Fatalf("refused file still loaded %d nonces", len(v.seen))
			}
			return
		}
		if len(v.seen) > maxNonces {
			t.Fatalf("%d nonces loaded, bound %d", len(v.seen), maxNonces)
		}
		for n, exp := range v.seen {
			if !validNonce(n) || now.After(exp) {
				t.Fatalf("loaded nonce %q expiring %v", n, exp)
			}
		}
	})
}
