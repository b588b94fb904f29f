package mqttapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/faceverify/faceverify/internal/atomicfile"
	"github.com/faceverify/faceverify/internal/validate"
)

// MaxCommandBytes bounds a command payload; larger ones are refused
// unread.
const MaxCommandBytes = 16 << 10

// DefaultCommandWindow is how far a command's ts may be from the device's
// clock (either way) when a Verifier is made with window 0.
const DefaultCommandWindow = 2 * time.Minute

// CommandEnvelope is the payload of P/D/cmd/<name>:
//
//	{"v":1,"body":{"request_id":"r1","ts":1718000000,"nonce":"…",…},"sig":"<64 hex>"}
//
// Sig is hex(HMAC-SHA256(secret, topic + "\n" + body)), where body is the
// exact bytes of the "body" value as sent and topic is the full command
// topic (so a signature is bound to one device and one command).
type CommandEnvelope struct {
	V    int             `json:"v"`
	Body json.RawMessage `json:"body"`
	Sig  string          `json:"sig"`
}

// CommandHeader are the fields every command body carries.
type CommandHeader struct {
	RequestID string `json:"request_id"` // 1–128 characters, echoed in the reply
	TS        int64  `json:"ts"`         // Unix time, seconds, when the sender signed it
	Nonce     string `json:"nonce"`      // 8–64 characters of [A-Za-z0-9_-], never reused
}

// Errors of Verifier.Verify; test with errors.Is. ReplyCode maps them to a
// ReplyError code.
var (
	ErrUnsigned     = errors.New("command is not signed")
	ErrBadSignature = errors.New("command signature does not match")
	ErrExpired      = errors.New("command timestamp outside the accepted window")
	ErrReplayed     = errors.New("command nonce already used")
	ErrMalformed    = errors.New("malformed command")
	ErrNoSecret     = errors.New("commands are disabled: no command secret is configured")
)

// ReplyCode is the ReplyError code for an error of Verify.
func ReplyCode(err error) string {
	switch {
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrReplayed):
		return "replayed"
	case errors.Is(err, ErrMalformed):
		return "bad_request"
	case errors.Is(err, ErrNonceStore):
		return "internal"
	}
	return "unauthorized"
}

// Signature returns hex(HMAC-SHA256(secret, topic + "\n" + body)).
func Signature(secret []byte, topic string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(topic))
	m.Write([]byte{'\n'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// NewNonce returns 16 random bytes as 32 hex characters.
func NewNonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// SignCommand builds a signed payload for topic (P/D/cmd/<name>). args are
// the command's own fields (nil for none); request_id, ts (from now) and a
// fresh nonce are added. args must marshal to a JSON object.
func SignCommand(secret []byte, topic, requestID string, now time.Time, args any) ([]byte, error) {
	body := map[string]any{}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return nil, fmt.Errorf("sign command: %w", err)
		}
		if err := json.Unmarshal(b, &body); err != nil {
			return nil, fmt.Errorf("sign command: args must be a JSON object: %w", err)
		}
	}
	body["request_id"] = requestID
	body["ts"] = now.Unix()
	body["nonce"] = NewNonce()
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("sign command: %w", err)
	}
	return json.Marshal(CommandEnvelope{V: Version, Body: b, Sig: Signature(secret, topic, b)})
}

// Verifier checks command signatures, timestamps and nonces. It is safe
// for concurrent use.
//
// A used nonce is remembered until its timestamp can no longer pass the
// window. A Verifier from OpenVerifier keeps them in a file as well, so a
// command captured before a restart cannot be replayed after it; one from
// NewVerifier keeps them in memory and instead refuses every command
// signed before the second it was made (see Floor).
type Verifier struct {
	secret []byte
	window time.Duration
	now    func() time.Time
	path   string    // nonce file; "" keeps nonces in memory only
	floor  time.Time // commands with an earlier ts are refused; zero: none

	mu   sync.Mutex
	seen map[string]time.Time // nonce → expiry
}

// maxNonces bounds the remembered nonces (in memory and in the nonce
// file, ≈ 100 bytes each); beyond it new commands are refused until old
// ones expire (only holders of the secret can fill it).
const maxNonces = 10000

// NonceFile is the name of the used-nonce file in an agent's MQTT state
// directory (<state dir>/<device id>/).
const NonceFile = "nonces.json"

// ErrNonceStore wraps a failure to read or write the nonce file; a command
// whose nonce could not be stored is refused (ReplyCode "internal").
var ErrNonceStore = errors.New("command nonce store")

// nonceFileVersion is the "v" of the nonce file.
const nonceFileVersion = 1

// nonceFileBody is the nonce file: {"v":1,"nonces":{"<nonce>":"<expiry RFC 3339>",…}}.
type nonceFileBody struct {
	V      int                  `json:"v"`
	Nonces map[string]time.Time `json:"nonces"`
}

// NewVerifier returns a Verifier for secret (empty: every command is
// refused with ErrNoSecret) that keeps used
// nonces in memory only: since a restart forgets them, it refuses
// commands whose ts is earlier than the second it was made (ErrExpired).
// window ≤ 0 means DefaultCommandWindow; now nil means time.Now.
func NewVerifier(secret []byte, window time.Duration, now func() time.Time) *Verifier {
	v := newVerifier(secret, window, now)
	v.floor = v.now().Truncate(time.Second)
	return v
}

func newVerifier(secret []byte, window time.Duration, now func() time.Time) *Verifier {
	if window <= 0 {
		window = DefaultCommandWindow
	}
	if now == nil {
		now = time.Now
	}
	return &Verifier{secret: bytes.Clone(secret), window: window, now: now, seen: map[string]time.Time{}}
}

// OpenVerifier returns a Verifier like NewVerifier's that remembers used
// nonces in the file path (JSON, mode 0600, replaced atomically and synced
// before a command is accepted; expired nonces are pruned), so a verifier
// restarted on the same file refuses a replay. A missing file starts
// empty. An unreadable or corrupt file is not fatal: the Verifier then
// refuses commands signed before it was made, as NewVerifier's does
// (Floor is non-zero; log it), and overwrites the file with the next
// accepted nonce.
func OpenVerifier(secret []byte, window time.Duration, now func() time.Time, path string) *Verifier {
	v := newVerifier(secret, window, now)
	v.path = path
	if err := v.load(); err != nil {
		v.floor = v.now().Truncate(time.Second)
	}
	return v
}

// Floor is the earliest command ts this Verifier accepts, beyond the
// window: zero when it read its nonce file, else when it was made
// (truncated to the second).
func (v *Verifier) Floor() time.Time { return v.floor }

// load reads the nonce file, keeping the nonces not yet expired.
func (v *Verifier) load() error {
	b, err := os.ReadFile(v.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNonceStore, err)
	}
	var f nonceFileBody
	if err := json.Unmarshal(b, &f); err != nil || f.V != nonceFileVersion || len(f.Nonces) > maxNonces {
		return fmt.Errorf("%w: %s is not a nonce file", ErrNonceStore, v.path)
	}
	for n := range f.Nonces {
		if !validNonce(n) {
			return fmt.Errorf("%w: %s holds an invalid nonce", ErrNonceStore, v.path)
		}
	}
	now := v.now()
	for n, exp := range f.Nonces {
		if !now.After(exp) {
			v.seen[n] = exp
		}
	}
	return nil
}

// saveLocked writes the remembered nonces to the nonce file; v.mu is held.
func (v *Verifier) saveLocked() error {
	b, err := json.Marshal(nonceFileBody{V: nonceFileVersion, Nonces: v.seen})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNonceStore, err)
	}
	if err := atomicfile.WriteFile(v.path, b); err != nil {
		return fmt.Errorf("%w: %w", ErrNonceStore, err)
	}
	return nil
}

// Verify checks payload received on topic and returns its body and header.
// The header's RequestID is filled whenever it could be read, also on
// error, so the refusal can echo it. Errors wrap ErrNoSecret, ErrUnsigned,
// ErrBadSignature, ErrMalformed, ErrExpired, ErrReplayed or ErrNonceStore.
// A nonce is remembered only once every other check has passed, and, with
// a nonce file, stored there before Verify returns success.
func (v *Verifier) Verify(topic string, payload []byte) (json.RawMessage, CommandHeader, error) {
	var h CommandHeader
	if len(payload) > MaxCommandBytes {
		return nil, h, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxCommandBytes)
	}
	var env CommandEnvelope
	if err := json.Unmarshal(payload, &env); err != nil {
		h.RequestID = salvageRequestID(payload)
		return nil, h, fmt.Errorf("%w: not a signed command envelope", ErrUnsigned)
	}
	h.RequestID = salvageRequestID(env.Body)
	if len(env.Body) == 0 {
		h.RequestID = salvageRequestID(payload) // a plain, unsigned body
	}
	switch {
	case len(v.secret) == 0:
		return nil, h, ErrNoSecret
	case env.Sig == "" || len(env.Body) == 0:
		return nil, h, ErrUnsigned
	case env.V != Version:
		return nil, h, fmt.Errorf("%w: v %d, want %d", ErrMalformed, env.V, Version)
	}
	got, err := hex.DecodeString(env.Sig)
	if err != nil || len(got) != sha256.Size {
		return nil, h, fmt.Errorf("%w: sig must be 64 hex characters", ErrBadSignature)
	}
	want, _ := hex.DecodeString(Signature(v.secret, topic, env.Body))
	if !hmac.Equal(got, want) {
		return nil, h, ErrBadSignature
	}
	h = CommandHeader{}
	if err := json.Unmarshal(env.Body, &h); err != nil {
		return nil, CommandHeader{RequestID: salvageRequestID(env.Body)}, fmt.Errorf("%w: body: %v", ErrMalformed, err)
	}
	if h.RequestID == "" || len(h.RequestID) > 128 || !utf8.ValidString(h.RequestID) {
		h.RequestID = truncate(h.RequestID, 128)
		return nil, h, fmt.Errorf("%w: request_id must be 1–128 characters", ErrMalformed)
	}
	if !validNonce(h.Nonce) {
		return nil, h, fmt.Errorf("%w: nonce must be 8–64 characters of [A-Za-z0-9_-]", ErrMalformed)
	}
	now := v.now()
	ts := time.Unix(h.TS, 0)
	if d := now.Sub(ts); d > v.window || d < -v.window {
		return nil, h, fmt.Errorf("%w: ts %d is %v from the device clock (window ±%v)", ErrExpired, h.TS, d.Round(time.Second), v.window)
	}
	if ts.Before(v.floor) {
		return nil, h, fmt.Errorf("%w: ts %d is before the command verifier started (%d) and its nonce may have been used", ErrExpired, h.TS, v.floor.Unix())
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for n, exp := range v.seen {
		if now.After(exp) {
			delete(v.seen, n)
		}
	}
	if _, dup := v.seen[h.Nonce]; dup {
		return nil, h, ErrReplayed
	}
	if len(v.seen) >= maxNonces {
		return nil, h, fmt.Errorf("%w: too many commands within the window", ErrReplayed)
	}
	// A nonce must be remembered until its ts can no longer pass the window.
	v.seen[h.Nonce] = ts.Add(v.window + time.Second)
	if v.path != "" {
		// Stored before the command runs; a nonce that could not be stored
		// stays in memory and the command is refused (send a new one).
		if err := v.saveLocked(); err != nil {
			return nil, h, err
		}
	}
	return env.Body, h, nil
}

func validNonce(s string) bool {
	return len(s) >= 8 && validate.Token(s, 64)
}

// salvageRequestID reads a string request_id from a JSON object, if any,
// bounded to 128 bytes.
func salvageRequestID(b []byte) string {
	var m struct {
		RequestID any `json:"request_id"`
	}
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	s, _ := m.RequestID.(string)
	if !utf8.ValidString(s) {
		return ""
	}
	return truncate(s, 128)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s
}
