package gateway

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// cheap are parameters for tests of parsing and rotation (below the
// configuration floor, which TestValidate covers).
var cheap = Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPasskeyHashRoundTrip(t *testing.T) {
	s := HashPasskey("partner-passkey-0123456789")
	if !strings.HasPrefix(s, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("HashPasskey = %q, want the default parameters", s)
	}
	h, err := ParsePasskeyHash(s)
	if err != nil {
		t.Fatal(err)
	}
	if h.String() != s {
		t.Errorf("String() = %q, want %q", h.String(), s)
	}
	if err := h.CheckStrength(); err != nil {
		t.Errorf("default parameters refused: %v", err)
	}
	if !h.Verify("partner-passkey-0123456789") {
		t.Error("right passkey refused")
	}
	for _, wrong := range []string{"", "partner-passkey-012345678", "partner-passkey-0123456789 ", "PARTNER-PASSKEY-0123456789"} {
		if h.Verify(wrong) {
			t.Errorf("wrong passkey %q accepted", wrong)
		}
	}
	if s2 := HashPasskey("partner-passkey-0123456789"); s2 == s {
		t.Error("two hashes of one passkey are equal: salt not random")
	}
}

// TestPasskeyHashKnownVector: a vector of the reference implementation
// (echo -n password | argon2 somesalt -id -t 2 -k 64 -p 1 -l 24, as in
// golang.org/x/crypto/argon2's tests) in PHC form.
func TestPasskeyHashKnownVector(t *testing.T) {
	const s = "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHQ$Bo1ismRVk2qm6+YAYLCmWHDb+j3fjUH3"
	h, err := ParsePasskeyHash(s)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Verify("password") || h.Verify("Password") {
		t.Error("reference vector does not verify")
	}
}

func TestParsePasskeyHashErrors(t *testing.T) {
	good := hashPasskeyWith("x", cheap)
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := []struct{ name, s, want string }{
		{"plaintext", "acme-passkey-0123456789", "want 5 fields"},
		{"argon2i", with(1, "argon2i"), "algorithm must be argon2id"},
		{"bcrypt", "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "want 5 fields"},
		{"old version", with(2, "v=16"), "version must be v=19"},
		{"parameter order", with(3, "t=1,m=64,p=1"), "parameter m"},
		{"leading zero", with(3, "m=064,t=1,p=1"), "parameter m"},
		{"plus sign", with(3, "m=+64,t=1,p=1"), "parameter m"},
		{"zero passes", with(3, "m=64,t=0,p=1"), "parameter t"},
		{"too many lanes", with(3, "m=64,t=1,p=256"), "p must be ≤ 255"},
		{"huge memory", with(3, "m=4294967296,t=1,p=1"), "parameter m"},
		{"extra parameter", with(3, "m=64,t=1,p=1,k=2"), "m=…,t=…,p=…"},
		{"padded salt", with(4, parts[4]+"=="), "salt"},
		{"line break in salt", with(4, parts[4][:4]+"\r\n"+parts[4][4:]), "salt"},
		{"empty hash", with(5, ""), "hash must be"},
		{"non-base64 hash", with(5, "!!!!"), "hash must be"},
		{"trailing field", good + "$", "want 5 fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePasskeyHash(tt.s)
			if !errors.Is(err, ErrPasskeyHash) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParsePasskeyHash(%q) = %v, want ErrPasskeyHash mentioning %q", tt.s, err, tt.want)
			}
		})
	}
}

func TestCheckStrength(t *testing.T) {
	tests := []struct {
		p    Argon2Params
		want string // "" when accepted
	}{
		{DefaultArgon2Params, ""},
		{Argon2Params{Memory: 12 * 1024, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}, ""},
		{Argon2Params{Memory: 7 * 1024, Time: 5, Threads: 1, SaltLen: 16, KeyLen: 32}, ""},
		{Argon2Params{Memory: 64 * 1024, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}, ""},
		{Argon2Params{Memory: 19 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, "below the floor"},
		{Argon2Params{Memory: 4 * 1024, Time: 16, Threads: 1, SaltLen: 16, KeyLen: 32}, "below the floor"},
		{Argon2Params{Memory: 512 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, "above"},
		{Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32}, "salt"},
		{Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 8}, "hash is 8 bytes"},
	}
	for _, tt := range tests {
		// Strength depends on the parameters only: build the hash
		// without computing it.
		h := PasskeyHash{Params: tt.p, Salt: make([]byte, tt.p.SaltLen), Key: make([]byte, tt.p.KeyLen)}
		err := h.CheckStrength()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: CheckStrength = %v, want %q", tt.p, err, tt.want)
		}
	}
}

// TestPasskeyChecker: rotation (two hashes, each passkey valid), other
// partners' passkeys and unknown client ids refused, and a full set of
// slots answers errBusy.
func TestPasskeyChecker(t *testing.T) {
	old, next := hashPasskeyWith("old-passkey-0123456789", cheap), hashPasskeyWith("new-passkey-0123456789", cheap)
	c, err := newPasskeyChecker([]PartnerConfig{
		{ClientID: "acme", PasskeyHashes: []string{old, next}},
		{ClientID: "beta", PasskeyHashes: []string{hashPasskeyWith("beta-passkey-0123456789", cheap)}},
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.dummy) != 2 || c.dummy[0].Params.Memory != cheap.Memory {
		t.Errorf("dummy hashes %+v, want 2 with the configured cost", c.dummy)
	}
	ctx := context.Background()
	tests := []struct {
		client, passkey string
		want            bool
	}{
		{"acme", "old-passkey-0123456789", true},
		{"acme", "new-passkey-0123456789", true},
		{"acme", "beta-passkey-0123456789", false},
		{"beta", "beta-passkey-0123456789", true},
		{"beta", "old-passkey-0123456789", false},
		{"ghost", "old-passkey-0123456789", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got, err := c.check(ctx, tt.client, tt.passkey); got != tt.want || err != nil {
			t.Errorf("check(%q, %q) = %v, %v; want %v", tt.client, tt.passkey, got, err, tt.want)
		}
	}
	c.sem <- struct{}{} // the only slot is taken
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if ok, err := c.check(cctx, "acme", "old-passkey-0123456789"); ok || err != errBusy {
		t.Errorf("with no free slot: %v, %v; want errBusy", ok, err)
	}
	<-c.sem
	if ok, err := c.check(ctx, "acme", "old-passkey-0123456789"); !ok || err != nil {
		t.Errorf("after the slot is freed: %v, %v", ok, err)
	}
}

func FuzzParsePasskeyHash(f *testing.F) {
	f.Add(hashPasskeyWith("x", cheap))
	f.Add("$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHQ$Bo1ismRVk2qm6+YAYLCmWHDb+j3fjUH3")
	f.Add("$argon2id$v=19$m=1,t=1,p=1$AA$AA")
	f.Add("$argon2i$v=19$m=1,t=1,p=1$AA$AA")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParsePasskeyHash(s)
		if err != nil {
			if !errors.Is(err, ErrPasskeyHash) {
				t.Fatalf("error %v does not wrap ErrPasskeyHash", err)
			}
			return
		}
		if h.String() != s {
			t.Fatalf("not canonical: %q parses, prints %q", s, h.String())
		}
		if h.Params.Memory == 0 || h.Params.Time == 0 || len(h.Salt) == 0 || len(h.Key) == 0 || len(h.Key) > maxArgon2Field {
			t.Fatalf("accepted bad parameters %+v", h)
		}
		// Verify only when cheap: the parser admits any cost (the
		// configuration's CheckStrength bounds it).
		if h.Params.Memory <= 1024 && h.Params.Time <= 4 && h.Params.Threads <= 4 {
			_ = h.Verify("x")
		}
	})
}

// BenchmarkPasskeyVerify is one /v1/token passkey check with the default
// parameters (19 MiB, 2 passes, 1 lane).
func BenchmarkPasskeyVerify(b *testing.B) {
	h, err := ParsePasskeyHash(HashPasskey("partner-passkey-0123456789"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Verify("wrong-passkey-0123456789")
	}
}
