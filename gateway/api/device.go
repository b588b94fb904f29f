package api

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Device identity. Each kiosk holds an Ed25519 key; the gateway knows the
// public keys of the devices allowed to submit (registered with
// POST PathDevices or `facegateway devices add`). Every submission carries
// three headers:
//
//	X-Faceverify-Device:    the device id (as SubmissionRequest.DeviceID)
//	X-Faceverify-Timestamp: Unix seconds when the request was signed
//	X-Faceverify-Signature: base64 (standard, padded) Ed25519 signature of
//	                        DeviceMessage(device, correlation id, timestamp,
//	                        SHA-256 of the exact request body)
//
// The correlation id is the flow's, which the gateway knows from the user
// token; so a signature is bound to one flow, one body and one moment. A
// replay within the skew window carries the same idempotency key and is
// counted once. (On callbacks, gateway → partner, X-Faceverify-Signature
// is the HMAC of SignatureHeader instead.)
const (
	DeviceHeader          = "X-Faceverify-Device"
	DeviceTimestampHeader = "X-Faceverify-Timestamp"
	DeviceSignatureHeader = "X-Faceverify-Signature"
)

// PathDevices registers a device key: POST RegisterDeviceRequest →
// RegisterDeviceResponse, authenticated with "Authorization: Bearer
// <enrollment token>" (the gateway's devices.enroll_token).
const PathDevices = "/v1/devices"

// Error codes of device authentication and enrollment.
const (
	CodeSignatureRequired = "signature_required"  // 401: devices.require_signature and no signature headers
	CodeBadSignature      = "bad_signature"       // 401: malformed headers, or the signature does not verify
	CodeClockSkew         = "clock_skew"          // 401: the signature's timestamp is outside the gateway's window
	CodeUnknownDevice     = "unknown_device"      // 403: no device registered under this id
	CodeRevokedDevice     = "revoked_device"      // 403: the device was revoked
	CodeDeviceConflict    = "device_conflict"     // 409: the id is registered with another key, or revoked
	CodeEnrollDisabled    = "enrollment_disabled" // 403: the gateway has no enrollment token configured
)

// RegisterDeviceRequest registers a device's public key.
type RegisterDeviceRequest struct {
	DeviceID  string `json:"device_id"`       // 1–64 of [A-Za-z0-9._-]
	PublicKey string `json:"public_key"`      // base64 of the 32-byte Ed25519 public key
	Label     string `json:"label,omitempty"` // free text for operators, ≤ 128 characters
}

// RegisterDeviceResponse acknowledges a registration (201 new, 200 when the
// same key was already registered).
type RegisterDeviceResponse struct {
	DeviceID    string    `json:"device_id"`
	Fingerprint string    `json:"fingerprint"` // KeyFingerprint of the key
	CreatedAt   time.Time `json:"created_at"`
}

// DeviceMessage is the byte string a device signs:
//
//	"faceverify-submission-v1\n" device "\n" correlation "\n" unix-seconds "\n" hex(bodySHA256)
func DeviceMessage(deviceID, correlationID string, unix int64, bodySHA256 [32]byte) []byte {
	b := make([]byte, 0, 128)
	b = append(b, "faceverify-submission-v1\n"...)
	b = append(b, deviceID...)
	b = append(b, '\n')
	b = append(b, correlationID...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, unix, 10)
	b = append(b, '\n')
	return hex.AppendEncode(b, bodySHA256[:])
}

// SignDevice returns the three header values for a submission body.
func SignDevice(key ed25519.PrivateKey, deviceID, correlationID string, t time.Time, body []byte) (device, timestamp, signature string) {
	unix := t.Unix()
	sig := ed25519.Sign(key, DeviceMessage(deviceID, correlationID, unix, sha256.Sum256(body)))
	return deviceID, strconv.FormatInt(unix, 10), base64.StdEncoding.EncodeToString(sig)
}

// ErrDeviceSignature: the device signature headers are malformed or do not
// verify.
var ErrDeviceSignature = errors.New("bad device signature")

// VerifyDevice checks a submission's signature headers against pub, the
// flow's correlation id and the body. It returns the signing time; the
// caller checks it against its skew window. Errors wrap ErrDeviceSignature.
func VerifyDevice(pub ed25519.PublicKey, deviceID, correlationID, timestamp, signature string, body []byte) (time.Time, error) {
	unix, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || unix <= 0 {
		return time.Time{}, fmt.Errorf("%w: timestamp %q", ErrDeviceSignature, truncateHeader(timestamp))
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return time.Time{}, fmt.Errorf("%w: signature is not %d base64 bytes", ErrDeviceSignature, ed25519.SignatureSize)
	}
	if len(pub) != ed25519.PublicKeySize {
		return time.Time{}, fmt.Errorf("%w: stored key has %d bytes", ErrDeviceSignature, len(pub))
	}
	if !ed25519.Verify(pub, DeviceMessage(deviceID, correlationID, unix, sha256.Sum256(body)), sig) {
		return time.Time{}, fmt.Errorf("%w: mismatch", ErrDeviceSignature)
	}
	return time.Unix(unix, 0), nil
}

// ParsePublicKey decodes a base64 (standard or URL alphabet, padded or
// not) Ed25519 public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("public key: %d bytes, want %d", len(b), ed25519.PublicKeySize)
			}
			return ed25519.PublicKey(b), nil
		}
	}
	return nil, errors.New("public key: not base64")
}

// KeyFingerprint is a short, stable name of a public key for operators:
// "SHA256:" and the first 16 bytes of its SHA-256 in hex.
func KeyFingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + hex.EncodeToString(sum[:16])
}

func truncateHeader(s string) string {
	if len(s) > 32 {
		return s[:32]
	}
	return s
}
