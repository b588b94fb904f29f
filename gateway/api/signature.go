package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the signature of a Callback body:
//
//	X-Faceverify-Signature: t=<unix seconds>,kid=<key id>,v1=<hex HMAC-SHA256>
//
// where the HMAC key is the partner's own callback secret named by kid
// (CallbackKey; each partner has its own keys, so one partner's key cannot
// sign a callback another partner accepts) and the message is "<t>."
// followed by the exact request body. The body names the partner
// (Callback.PartnerID) and the delivery (Callback.DeliveryID), so both are
// covered by the HMAC. The timestamp lets the partner refuse replays older
// than a tolerance (VerifyCallback). kid is absent from headers of gateways
// older than per-partner keys.
const SignatureHeader = "X-Faceverify-Signature"

// Callback request headers besides SignatureHeader. They repeat fields of
// the signed body so a partner can route or de-duplicate before parsing;
// the body is authoritative.
const (
	// DeliveryHeader is Callback.DeliveryID.
	DeliveryHeader = "X-Faceverify-Delivery"
	// EventHeader is Callback.Event.
	EventHeader = "X-Faceverify-Event"
)

// ErrBadSignature: the signature header is missing, malformed, names a key
// the partner does not hold, does not match the body or is outside the time
// tolerance.
var ErrBadSignature = errors.New("bad callback signature")

// CallbackKey is one HMAC-SHA256 key of a partner's callback keyring. ID is
// the key id named in SignatureHeader (1–64 characters of [A-Za-z0-9._-]);
// during a rotation a partner holds the old and the new key.
type CallbackKey struct {
	ID     string
	Secret []byte
}

// Sign returns a SignatureHeader value for body sent at t, without a key id
// (kept for callers of single-secret setups; the gateway uses SignCallback).
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// SignCallback returns the SignatureHeader value for body sent at t, signed
// with key and naming key.ID.
func SignCallback(key CallbackKey, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",kid=" + key.ID + ",v1=" + hex.EncodeToString(mac(key.Secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// parsedSignature is a SignatureHeader value split into its parts.
type parsedSignature struct {
	ts   string
	sec  int64
	kid  string
	kids int // how many kid= parts
	sigs [][]byte
}

func parseSignature(header string) (parsedSignature, error) {
	var p parsedSignature
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			p.ts = v
		case "kid":
			p.kid = v
			p.kids++
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				p.sigs = append(p.sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(p.ts, 10, 64)
	if err != nil || len(p.sigs) == 0 || p.kids > 1 {
		return p, fmt.Errorf("%w: malformed header", ErrBadSignature)
	}
	p.sec = sec
	return p, nil
}

func (p parsedSignature) checkTime(now time.Time, tolerance time.Duration) error {
	if tolerance > 0 {
		if d := now.Sub(time.Unix(p.sec, 0)); d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: timestamp %ds off", ErrBadSignature, int64(d/time.Second))
		}
	}
	return nil
}

func (p parsedSignature) matches(secret []byte, body []byte) bool {
	want := mac(secret, p.ts, body)
	for _, s := range p.sigs {
		if hmac.Equal(s, want) {
			return true
		}
	}
	return false
}

// VerifySignature checks a SignatureHeader value against body with one
// secret, in constant time, and that its timestamp is within tolerance of
// now (0 disables the time check). A kid in the header is not checked (see
// VerifyCallback). Errors wrap ErrBadSignature.
func VerifySignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	p, err := parseSignature(header)
	if err != nil {
		return err
	}
	if err := p.checkTime(now, tolerance); err != nil {
		return err
	}
	if !p.matches(secret, body) {
		return fmt.Errorf("%w: mismatch", ErrBadSignature)
	}
	return nil
}

// VerifyCallback checks a SignatureHeader value against body with the
// partner's own keys and returns the id of the key that verified it. The
// header's kid selects the key: a kid the partner does not hold is refused
// ("unknown key id") without trying other keys. A key with an empty ID
// matches any kid. A header without kid (older gateways) is tried against
// every key. The timestamp must be within tolerance of now (0 disables the
// time check). Comparisons are constant-time; errors wrap ErrBadSignature.
func VerifyCallback(keys []CallbackKey, header string, body []byte, now time.Time, tolerance time.Duration) (string, error) {
	p, err := parseSignature(header)
	if err != nil {
		return "", err
	}
	if err := p.checkTime(now, tolerance); err != nil {
		return "", err
	}
	tried := 0
	for _, k := range keys {
		if p.kid != "" && k.ID != "" && k.ID != p.kid {
			continue
		}
		tried++
		if p.matches(k.Secret, body) {
			if k.ID == "" {
				return p.kid, nil
			}
			return k.ID, nil
		}
	}
	if tried == 0 {
		return "", fmt.Errorf("%w: unknown key id %q", ErrBadSignature, truncateID(p.kid))
	}
	return "", fmt.Errorf("%w: mismatch", ErrBadSignature)
}

// truncateID shortens an attacker-chosen id for error messages.
func truncateID(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
