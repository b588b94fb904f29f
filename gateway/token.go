package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
)

// newToken returns a bearer token (32 random bytes, base64url without
// padding: 43 characters) and the SHA-256 under which it is stored.
func newToken() (string, [32]byte) {
	var b [32]byte
	rand.Read(b[:]) // never returns an error (crypto/rand)
	s := base64.RawURLEncoding.EncodeToString(b[:])
	return s, hashToken(s)
}

// hashToken is the stored form of a token string.
func hashToken(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// newID returns a random identifier with a readable prefix, e.g.
// "sub_3f9a…" (prefix + 24 hex digits).
func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
