package gateway

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/faceverify/faceverify/gateway/api"
)

// Argon2Params are the cost parameters of an argon2id passkey hash
// (RFC 9106): Memory in KiB, Time in passes over that memory, Threads
// (lanes); SaltLen and KeyLen in bytes.
type Argon2Params struct {
	Memory  uint32
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultArgon2Params are the parameters of HashPasskey: 19 MiB, 2 passes,
// 1 lane, 16-byte salt, 32-byte hash; OWASP's Password Storage Cheat Sheet
// minimum for argon2id. One verification allocates 19 MiB and took 41 ms
// on the 2-core CI machine (BenchmarkPasskeyVerify); at most
// limits.rate.passkey_checks of them run at once.
var DefaultArgon2Params = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits a configured hash must meet (CheckStrength). The floor follows
// OWASP's equivalent argon2id settings (19 MiB×2, 12 MiB×3, 9 MiB×4,
// 7 MiB×5): memory ≥ 7 MiB and memory×passes ≥ 35 MiB-passes. The
// ceilings keep one verification within 256 MiB and about a second.
const (
	minArgon2Memory     = 7 * 1024
	minArgon2MemoryTime = 35 * 1024
	maxArgon2Memory     = 256 * 1024
	maxArgon2Time       = 16
	maxArgon2Threads    = 16
	minArgon2Salt       = 16
	minArgon2Key        = 16
	maxArgon2Field      = 64 // salt and key bytes
)

// ErrPasskeyHash: a string is not an argon2id PHC hash this gateway reads.
var ErrPasskeyHash = errors.New("not an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)")

// PasskeyHash is a parsed argon2id hash of a partner passkey.
type PasskeyHash struct {
	Params Argon2Params
	Salt   []byte
	Key    []byte
}

// phc is the unpadded standard base64 of the PHC string format.
var phc = base64.RawStdEncoding.Strict()

// HashPasskey hashes passkey with DefaultArgon2Params and a random salt and
// returns the PHC string, e.g.
// "$argon2id$v=19$m=19456,t=2,p=1$<22 base64>$<43 base64>".
func HashPasskey(passkey string) string {
	return hashPasskeyWith(passkey, DefaultArgon2Params)
}

func hashPasskeyWith(passkey string, p Argon2Params) string {
	salt := make([]byte, p.SaltLen)
	rand.Read(salt) // never returns an error (crypto/rand)
	h := PasskeyHash{Params: p, Salt: salt, Key: argon2.IDKey([]byte(passkey), salt, p.Time, p.Memory, p.Threads, p.KeyLen)}
	return h.String()
}

// String is the PHC string of h:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash> (base64
// without padding).
func (h PasskeyHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.Params.Memory, h.Params.Time, h.Params.Threads, phc.EncodeToString(h.Salt), phc.EncodeToString(h.Key))
}

// ParsePasskeyHash parses the PHC string of an argon2id hash (version 19,
// parameters in the order m, t, p, decimal without leading zeros; salt and
// hash 1–64 bytes of unpadded standard base64). Parsing is canonical: a
// string that parses is exactly PasskeyHash.String of the result. Errors
// wrap ErrPasskeyHash and say which part is wrong. It does not judge the
// cost: see CheckStrength.
func ParsePasskeyHash(s string) (PasskeyHash, error) {
	bad := func(what string) (PasskeyHash, error) {
		return PasskeyHash{}, fmt.Errorf("%w: %s", ErrPasskeyHash, what)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("want 5 fields separated by $")
	}
	if parts[1] != "argon2id" {
		return bad("algorithm must be argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("version must be v=19")
	}
	ps := strings.Split(parts[3], ",")
	if len(ps) != 3 {
		return bad("parameters must be m=…,t=…,p=…")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(ps[i], name+"=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || n == 0 || v[0] == '0' || v[0] == '+' {
			return bad("parameter " + name + " must be a positive decimal")
		}
		vals[i] = n
	}
	if vals[2] > 255 {
		return bad("parameter p must be ≤ 255")
	}
	// Decoding skips \r and \n: comparing with the re-encoding refuses
	// them, so the string stays canonical.
	salt, err := phc.DecodeString(parts[4])
	if err != nil || len(salt) == 0 || len(salt) > maxArgon2Field || phc.EncodeToString(salt) != parts[4] {
		return bad("salt must be 1–64 bytes of unpadded base64")
	}
	key, err := phc.DecodeString(parts[5])
	if err != nil || len(key) == 0 || len(key) > maxArgon2Field || phc.EncodeToString(key) != parts[5] {
		return bad("hash must be 1–64 bytes of unpadded base64")
	}
	h := PasskeyHash{
		Params: Argon2Params{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2]), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))},
		Salt:   salt,
		Key:    key,
	}
	return h, nil
}

// CheckStrength reports whether h's parameters are within what the gateway
// accepts in configuration: memory ≥ 7 MiB with memory×passes ≥ 35 MiB
// (OWASP's argon2id floor), memory ≤ 256 MiB, passes ≤ 16, lanes 1–16,
// salt ≥ 16 bytes, hash ≥ 16 bytes.
func (h PasskeyHash) CheckStrength() error {
	p := h.Params
	switch {
	case p.Memory < minArgon2Memory || uint64(p.Memory)*uint64(p.Time) < minArgon2MemoryTime:
		return fmt.Errorf("argon2id cost m=%d,t=%d is below the floor (m ≥ %d KiB and m×t ≥ %d; `facegateway partners hash-passkey` uses m=%d,t=%d)",
			p.Memory, p.Time, minArgon2Memory, minArgon2MemoryTime, DefaultArgon2Params.Memory, DefaultArgon2Params.Time)
	case p.Memory > maxArgon2Memory:
		return fmt.Errorf("argon2id memory m=%d KiB is above %d KiB", p.Memory, maxArgon2Memory)
	case p.Time > maxArgon2Time:
		return fmt.Errorf("argon2id passes t=%d is above %d", p.Time, maxArgon2Time)
	case p.Threads < 1 || p.Threads > maxArgon2Threads:
		return fmt.Errorf("argon2id lanes p=%d must be in [1,%d]", p.Threads, maxArgon2Threads)
	case len(h.Salt) < minArgon2Salt:
		return fmt.Errorf("argon2id salt is %d bytes, want ≥ %d", len(h.Salt), minArgon2Salt)
	case len(h.Key) < minArgon2Key:
		return fmt.Errorf("argon2id hash is %d bytes, want ≥ %d", len(h.Key), minArgon2Key)
	}
	return nil
}

// Verify reports whether passkey hashes to h, comparing in constant time.
// It costs one argon2id evaluation with h's parameters.
func (h PasskeyHash) Verify(passkey string) bool {
	got := argon2.IDKey([]byte(passkey), h.Salt, h.Params.Time, h.Params.Memory, h.Params.Threads, uint32(len(h.Key)))
	return subtle.ConstantTimeCompare(got, h.Key) == 1
}

// passkeyWait is how long a token request waits for a passkey-check slot
// before it is answered 503 server_busy.
const passkeyWait = 10 * time.Second

// passkeyChecker verifies partner passkeys against their configured
// hashes, at most cap(sem) at a time.
type passkeyChecker struct {
	hashes map[string][]PasskeyHash
	// dummy is verified for unknown client ids, as many hashes as the
	// partner with the most and with the costliest parameters configured,
	// so an unknown client id costs no less than a wrong passkey.
	dummy []PasskeyHash
	sem   chan struct{}
	wait  time.Duration
}

func newPasskeyChecker(partners []PartnerConfig, concurrency int) (*passkeyChecker, error) {
	c := &passkeyChecker{hashes: map[string][]PasskeyHash{}, sem: make(chan struct{}, concurrency), wait: passkeyWait}
	var most Argon2Params
	n := 0
	for i, p := range partners {
		for j, s := range p.PasskeyHashes {
			h, err := ParsePasskeyHash(s)
			if err != nil {
				return nil, fmt.Errorf("partners[%d].passkey_hashes[%d]: %w", i, j, err)
			}
			c.hashes[p.ClientID] = append(c.hashes[p.ClientID], h)
			most.Memory = max(most.Memory, h.Params.Memory)
			most.Time = max(most.Time, h.Params.Time)
			most.Threads = max(most.Threads, h.Params.Threads)
			most.KeyLen = max(most.KeyLen, h.Params.KeyLen)
		}
		n = max(n, len(p.PasskeyHashes))
	}
	most.SaltLen = 16
	for range n {
		salt, key := make([]byte, most.SaltLen), make([]byte, most.KeyLen)
		rand.Read(salt)
		rand.Read(key)
		c.dummy = append(c.dummy, PasskeyHash{Params: most, Salt: salt, Key: key})
	}
	return c, nil
}

// errBusy: no verification slot was free within the wait.
var errBusy = &limitError{status: http.StatusServiceUnavailable, code: api.CodeServerBusy,
	msg: "too many passkey checks in progress; retry shortly", retryAfter: 1}

// check reports whether passkey is valid for clientID: it is verified
// against every hash of the client (no early exit), or against the dummy
// hashes for an unknown client. It waits for a free slot up to c.wait (or
// ctx) and returns errBusy (503) when none came.
func (c *passkeyChecker) check(ctx context.Context, clientID, passkey string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.wait)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return false, errBusy
	}
	defer func() { <-c.sem }()
	hashes, known := c.hashes[clientID]
	if !known {
		hashes = c.dummy
	}
	ok := false
	for _, h := range hashes {
		if h.Verify(passkey) {
			ok = true
		}
	}
	return ok && known, nil
}

// validatePasskeyHashes checks a partner's passkey_hashes: one or two
// argon2id PHC strings that parse and pass CheckStrength.
func validatePasskeyHashes(hashes []string, field string) error {
	if len(hashes) == 0 || len(hashes) > 2 {
		return errField(field, "must hold 1 or 2 argon2id hashes (2 during a rotation), got %d; make one with `facegateway partners hash-passkey`", len(hashes))
	}
	for j, s := range hashes {
		h, err := ParsePasskeyHash(s)
		if err == nil {
			err = h.CheckStrength()
		}
		if err != nil {
			return errField(fmt.Sprintf("%s[%d]", field, j), "%v", err)
		}
	}
	return nil
}
