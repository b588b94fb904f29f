// Package identity is the kiosk's device identity: an Ed25519 key created
// on first start and kept in the state directory (PKCS#8 PEM, mode 0600),
// the signatures every submission carries (see gateway/api DeviceMessage),
// and enrollment of the public key with the gateway.
//
// Use:
//
//	id, created, err := identity.LoadOrCreate("/var/lib/faceverify/device.key", cfg.Device.ID)
//	client := gateway.New(gateway.Options{Signer: id, Now: clk.Now})
package identity

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/internal/atomicfile"
	"github.com/faceverify/faceverify/internal/validate"
)

// Identity is a device id and its signing key. It is safe for concurrent
// use.
type Identity struct {
	deviceID string
	key      ed25519.PrivateKey
}

// New returns an Identity for an existing key (tests, tools).
func New(deviceID string, key ed25519.PrivateKey) *Identity {
	return &Identity{deviceID: deviceID, key: key}
}

// DeviceID is the id the device signs as.
func (id *Identity) DeviceID() string { return id.deviceID }

// PublicKey returns the 32-byte Ed25519 public key.
func (id *Identity) PublicKey() ed25519.PublicKey { return id.key.Public().(ed25519.PublicKey) }

// PublicKeyBase64 is the public key as the gateway's registry takes it
// (standard base64, padded: 44 characters).
func (id *Identity) PublicKeyBase64() string {
	return base64.StdEncoding.EncodeToString(id.PublicKey())
}

// Fingerprint is api.KeyFingerprint of the public key.
func (id *Identity) Fingerprint() string { return api.KeyFingerprint(id.PublicKey()) }

// Sign returns the signature headers for a submission body sent at t in the
// flow correlationID.
func (id *Identity) Sign(correlationID string, t time.Time, body []byte) http.Header {
	dev, ts, sig := api.SignDevice(id.key, id.deviceID, correlationID, t, body)
	h := http.Header{}
	h.Set(api.DeviceHeader, dev)
	h.Set(api.DeviceTimestampHeader, ts)
	h.Set(api.DeviceSignatureHeader, sig)
	return h
}

// LoadOrCreate reads the PKCS#8 PEM Ed25519 key at path, or creates one
// (parent directories 0700, file 0600, fsynced) when the file does not
// exist. A key file readable by group or others, or holding another kind
// of key, is an error — never silently replaced, since the gateway knows
// the device by that key.
func LoadOrCreate(path, deviceID string) (id *Identity, created bool, err error) {
	key, err := readKey(path)
	if err == nil {
		return &Identity{deviceID: deviceID, key: key}, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("device key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, false, fmt.Errorf("device key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("device key: %w", err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	err = atomicfile.CreateExclusive(path, pemKey, 0o600)
	if errors.Is(err, fs.ErrExist) { // created concurrently
		key, err := readKey(path)
		if err != nil {
			return nil, false, err
		}
		return &Identity{deviceID: deviceID, key: key}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("device key %s: %w", path, err)
	}
	return &Identity{deviceID: deviceID, key: key}, true, nil
}

func readKey(path string) (ed25519.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("device key %s: mode %04o, must not be accessible by group or others (chmod 600)", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("device key %s: not a PEM \"PRIVATE KEY\"", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("device key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("device key %s: %T, want an Ed25519 key", path, k)
	}
	return key, nil
}

// EnrollError is a refused enrollment.
type EnrollError struct {
	StatusCode int
	Code       string // api.Error.Code, e.g. "device_conflict"
	Message    string
}

func (e *EnrollError) Error() string {
	return fmt.Sprintf("enroll: HTTP %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// EnrollTimeout bounds one enrollment request when the caller's client
// sets no timeout of its own.
const EnrollTimeout = 30 * time.Second

// ErrInsecureEnrollURL is returned by Enroll for a gateway URL over which
// the enrollment token would travel in clear text (anything but https,
// except http to a loopback host) or that is not a plain base URL.
var ErrInsecureEnrollURL = errors.New("enroll: gateway URL must be https (http only to a loopback host)")

// ErrEnrollRedirect is returned by Enroll when the gateway answers with a
// redirect: it is never followed, so the token goes only to the host named.
var ErrEnrollRedirect = errors.New("enroll: the gateway answered with a redirect, which is not followed")

// CheckEnrollURL reports whether baseURL may carry an enrollment token: an
// absolute https URL (http only to localhost or a loopback IP) without
// credentials, query or fragment. Errors wrap ErrInsecureEnrollURL.
func CheckEnrollURL(baseURL string) error {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%w: got %q", ErrInsecureEnrollURL, baseURL)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("%w: must not carry credentials, a query or a fragment", ErrInsecureEnrollURL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && validate.LoopbackHost(u.Hostname()):
	default:
		return fmt.Errorf("%w: got %s://%s", ErrInsecureEnrollURL, u.Scheme, u.Host)
	}
	return nil
}

// enrollClient is client (a new one if nil) that never follows a redirect
// and, when client has no timeout, gives up after EnrollTimeout. client
// itself is not modified.
func enrollClient(client *http.Client) *http.Client {
	c := &http.Client{}
	if client != nil {
		*c = *client
	}
	if c.Timeout <= 0 {
		c.Timeout = EnrollTimeout
	}
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		return fmt.Errorf("%w (to %s://%s)", ErrEnrollRedirect, req.URL.Scheme, req.URL.Host)
	}
	return c
}

// Enroll registers the identity's public key with the gateway at baseURL
// (POST api.PathDevices) using the gateway operator's enrollment token.
// baseURL must pass CheckEnrollURL; redirects are never followed and the
// request is bounded by client's timeout or EnrollTimeout (client may be
// nil; its Transport is used, its redirect policy is not).
// It returns the gateway's answer (Created false when the same key was
// already registered). Errors: ErrInsecureEnrollURL before anything is
// sent, ErrEnrollRedirect, *EnrollError for a refusal (401 bad token,
// 403 enrollment disabled, 409 the id has another key or is revoked),
// otherwise a transport error.
func Enroll(ctx context.Context, client *http.Client, baseURL, enrollToken, label string, id *Identity) (resp api.RegisterDeviceResponse, created bool, err error) {
	if err := CheckEnrollURL(baseURL); err != nil {
		return resp, false, err
	}
	client = enrollClient(client)
	body, _ := json.Marshal(api.RegisterDeviceRequest{DeviceID: id.deviceID, PublicKey: id.PublicKeyBase64(), Label: label})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+api.PathDevices, bytes.NewReader(body))
	if err != nil {
		return resp, false, fmt.Errorf("enroll: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+enrollToken)
	hr, err := client.Do(req)
	if err != nil {
		return resp, false, fmt.Errorf("enroll: %w", err)
	}
	defer hr.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hr.Body, 1<<20))
	if err != nil {
		return resp, false, fmt.Errorf("enroll: read answer: %w", err)
	}
	if hr.StatusCode != http.StatusOK && hr.StatusCode != http.StatusCreated {
		var e api.Error
		json.Unmarshal(data, &e)
		return resp, false, &EnrollError{StatusCode: hr.StatusCode, Code: e.Code, Message: e.Message}
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return resp, false, fmt.Errorf("enroll: decode answer: %w", err)
	}
	return resp, hr.StatusCode == http.StatusCreated, nil
}
