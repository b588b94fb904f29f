package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/internal/validate"
)

// EnvEnrollToken holds the device enrollment token (devices.enroll_token).
const EnvEnrollToken = "FACEGATEWAY_ENROLL_TOKEN"

// Device is a kiosk known to the gateway by its Ed25519 public key.
type Device struct {
	ID        string // 1–64 of [A-Za-z0-9._-]; the agent's device.id
	PublicKey ed25519.PublicKey
	Label     string    // free text for operators
	CreatedAt time.Time // registration
	RevokedAt time.Time // zero while the device may submit
	// ReplacedAt is when an operator last set a new key for the id
	// (ReplaceDevice); zero if the key is the one registered at CreatedAt.
	ReplacedAt time.Time
}

// Revoked reports whether the device was revoked.
func (d Device) Revoked() bool { return !d.RevokedAt.IsZero() }

// ErrDeviceConflict: the device id is already registered with another key,
// or was revoked. AddDevice (and so POST /v1/devices) never changes a
// registered key nor lifts a revocation; an operator does, with
// `facegateway devices replace` (DeviceRegistry.ReplaceDevice). Stores
// return one of the two more precise errors below, which both match
// ErrDeviceConflict with errors.Is.
var ErrDeviceConflict = errors.New("device id already registered")

// ErrDeviceOtherKey is ErrDeviceConflict for an id registered with
// another public key (a kiosk whose key was lost, or a second kiosk
// configured with the same id).
var ErrDeviceOtherKey = fmt.Errorf("%w with another key", ErrDeviceConflict)

// ErrDeviceRevoked is ErrDeviceConflict for a revoked id.
var ErrDeviceRevoked = fmt.Errorf("%w and revoked", ErrDeviceConflict)

// replaceHint tells an operator how to resolve ErrDeviceConflict.
const replaceHint = "an operator can set the new key with `facegateway devices replace -id ID -key KEY`"

// DeviceConflictMessage explains err (an ErrDeviceConflict) for device id
// and names the operator command that resolves it.
func DeviceConflictMessage(id string, err error) string {
	var what string
	switch {
	case errors.Is(err, ErrDeviceRevoked):
		what = "device id " + id + " is revoked"
	case errors.Is(err, ErrDeviceOtherKey):
		what = "device id " + id + " is registered with another key"
	default:
		what = "device id " + id + " is registered with another key or revoked"
	}
	return what + "; " + replaceHint
}

// DeviceRegistry stores the devices allowed to submit. gateway/sqlitestore
// implements it beside Store.
type DeviceRegistry interface {
	// AddDevice registers d (CreatedAt set by the caller). Registering the
	// same id with the same key again returns the stored device with
	// created=false; another key is ErrDeviceOtherKey, a revoked id
	// ErrDeviceRevoked (both ErrDeviceConflict). It never changes a
	// stored device.
	AddDevice(ctx context.Context, d Device) (stored Device, created bool, err error)
	// DeviceByID returns a device (revoked ones too) or ErrNotFound.
	DeviceByID(ctx context.Context, id string) (Device, error)
	// RevokeDevice marks a device revoked at at (kept if already revoked)
	// and returns it; ErrNotFound if unknown.
	RevokeDevice(ctx context.Context, id string, at time.Time) (Device, error)
	// ReplaceDevice sets the public key of a registered device, clears
	// its revocation and sets ReplacedAt to at, keeping CreatedAt and
	// Label; it returns the device as stored, or ErrNotFound if unknown.
	// It is an operator action (`facegateway devices replace`), never
	// reachable over HTTP.
	ReplaceDevice(ctx context.Context, id string, key ed25519.PublicKey, at time.Time) (Device, error)
	// Devices lists every device by id.
	Devices(ctx context.Context) ([]Device, error)
}

// DevicesConfig is the [devices] table: which devices may submit.
type DevicesConfig struct {
	// RequireSignature refuses submissions without a valid device
	// signature (401 signature_required). On by default; set it false
	// only while kiosks are being enrolled (a gateway upgraded in place
	// whose kiosks have no keys yet), and the gateway warns at every start
	// that unsigned submissions are accepted. Signed submissions are
	// verified either way.
	RequireSignature bool `toml:"require_signature"`
	// MaxSkew is how far a signature's timestamp may be from the gateway's
	// clock, either way.
	MaxSkew time.Duration `toml:"max_skew"`
	// EnrollToken authorises POST /v1/devices; it is not read from the
	// file: set FACEGATEWAY_ENROLL_TOKEN or EnrollTokenFile. Empty disables
	// enrollment over HTTP (use `facegateway devices add`).
	EnrollToken     string `toml:"-"`
	EnrollTokenFile string `toml:"enroll_token_file"`
}

func defaultDevicesConfig() DevicesConfig {
	return DevicesConfig{RequireSignature: true, MaxSkew: 5 * time.Minute}
}

func (c DevicesConfig) validate() error {
	if c.MaxSkew < 10*time.Second || c.MaxSkew > 24*time.Hour {
		return errField("devices.max_skew", "must be in [10s,24h], got %v", c.MaxSkew)
	}
	if c.EnrollToken != "" && len(c.EnrollToken) < 16 {
		return errField("devices.enroll_token", "must be ≥ 16 characters (from %s or devices.enroll_token_file)", EnvEnrollToken)
	}
	return nil
}

func (c *DevicesConfig) resolveSecrets(getenv func(string) string) error {
	if v := getenv(EnvEnrollToken); v != "" {
		c.EnrollToken = v
		return nil
	}
	if c.EnrollTokenFile != "" {
		b, err := os.ReadFile(c.EnrollTokenFile)
		if err != nil {
			return fmt.Errorf("devices.enroll_token_file: %w", err)
		}
		c.EnrollToken = string(bytes.TrimSpace(b))
	}
	return nil
}

// deviceAuth verifies device signatures and serves enrollment.
type deviceAuth struct {
	cfg     DevicesConfig
	reg     DeviceRegistry // nil: no registry (signatures cannot be checked)
	results *prometheus.CounterVec
	enrolls *prometheus.CounterVec
}

func newDeviceAuth(cfg DevicesConfig, reg DeviceRegistry, store Store, r prometheus.Registerer, log *slog.Logger) (*deviceAuth, error) {
	if reg == nil {
		reg, _ = store.(DeviceRegistry)
	}
	if reg == nil && cfg.RequireSignature {
		return nil, errors.New("gateway: devices.require_signature needs a store with a device registry")
	}
	if !cfg.RequireSignature {
		log.Warn("devices.require_signature is false: submissions without a device signature are accepted")
	}
	d := &deviceAuth{
		cfg: cfg, reg: reg,
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "faceverify_gateway", Name: "device_signatures_total",
			Help: "Submissions by device-signature check result: valid, unsigned, malformed, unknown, revoked, mismatch, skew.",
		}, []string{"result"}),
		enrolls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "faceverify_gateway", Name: "device_enrollments_total",
			Help: "POST /v1/devices by result: created, existing, refused.",
		}, []string{"result"}),
	}
	if err := r.Register(d.results); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := r.Register(d.enrolls); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return d, nil
}

// verifyDevice checks the device signature of a submission from the user
// token utok. It reads the body (bounded by submissionLimit) and puts it
// back for decoding. It returns the signing device id, or "" for an
// unsigned submission the configuration accepts. Refusals are *httpError:
// 401 signature_required, bad_signature or clock_skew; 403 unknown_device
// or revoked_device.
func (g *Gateway) verifyDevice(w http.ResponseWriter, r *http.Request, utok Token) (string, error) {
	d := g.devices
	dev := r.Header.Get(api.DeviceHeader)
	ts := r.Header.Get(api.DeviceTimestampHeader)
	sig := r.Header.Get(api.DeviceSignatureHeader)
	if dev == "" && ts == "" && sig == "" {
		if d.cfg.RequireSignature {
			d.results.WithLabelValues("unsigned").Inc()
			return "", &httpError{http.StatusUnauthorized, api.CodeSignatureRequired, "device signature required (" + api.DeviceHeader + ", " + api.DeviceTimestampHeader + ", " + api.DeviceSignatureHeader + ")"}
		}
		d.results.WithLabelValues("unsigned").Inc()
		return "", nil
	}
	if dev == "" || ts == "" || sig == "" || !validate.ID(dev, 64) {
		d.results.WithLabelValues("malformed").Inc()
		return "", &httpError{http.StatusUnauthorized, api.CodeBadSignature, "incomplete or malformed device signature headers"}
	}
	if d.reg == nil {
		return "", errors.New("device signature present but the store has no device registry")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.submissionLimit()))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", &httpError{http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, fmt.Sprintf("body longer than %d bytes", mbe.Limit)}
		}
		return "", badRequest("read body: %v", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	device, err := d.reg.DeviceByID(r.Context(), dev)
	if errors.Is(err, ErrNotFound) {
		d.results.WithLabelValues("unknown").Inc()
		g.log.Info("submission from unknown device refused", "device_id", dev, "flow_id", utok.FlowID)
		return "", &httpError{http.StatusForbidden, api.CodeUnknownDevice, "device " + dev + " is not registered"}
	}
	if err != nil {
		return "", fmt.Errorf("load device: %w", err)
	}
	flow, err := g.store.FlowByID(r.Context(), utok.FlowID)
	if err != nil {
		return "", fmt.Errorf("load flow: %w", err)
	}
	at, err := api.VerifyDevice(device.PublicKey, dev, flow.CorrelationID, ts, sig, body)
	if err != nil {
		d.results.WithLabelValues("mismatch").Inc()
		g.log.Info("device signature refused", "device_id", dev, "flow_id", utok.FlowID, "err", err)
		return "", &httpError{http.StatusUnauthorized, api.CodeBadSignature, "device signature does not verify"}
	}
	if device.Revoked() {
		d.results.WithLabelValues("revoked").Inc()
		g.log.Info("submission from revoked device refused", "device_id", dev, "flow_id", utok.FlowID)
		return "", &httpError{http.StatusForbidden, api.CodeRevokedDevice, "device " + dev + " is revoked"}
	}
	if skew := g.now().Sub(at); skew > d.cfg.MaxSkew || skew < -d.cfg.MaxSkew {
		d.results.WithLabelValues("skew").Inc()
		return "", &httpError{http.StatusUnauthorized, api.CodeClockSkew, fmt.Sprintf("signature timestamp is %ds off the gateway clock (window ±%ds)", int64(skew/time.Second), int64(d.cfg.MaxSkew/time.Second))}
	}
	d.results.WithLabelValues("valid").Inc()
	return dev, nil
}

// handleRegisterDevice serves POST /v1/devices.
func (g *Gateway) handleRegisterDevice(w http.ResponseWriter, r *http.Request) {
	d := g.devices
	refuse := func(err error) {
		d.enrolls.WithLabelValues("refused").Inc()
		g.fail(w, r, err)
	}
	if err := g.limits.take(g.limits.enrollSource, g.limits.source(r), g.now()); err != nil {
		refuse(err)
		return
	}
	if d.cfg.EnrollToken == "" || d.reg == nil {
		refuse(&httpError{http.StatusForbidden, api.CodeEnrollDisabled, "enrollment over HTTP is disabled; use `facegateway devices add`"})
		return
	}
	got := sha256.Sum256([]byte(bearer(r)))
	want := sha256.Sum256([]byte(d.cfg.EnrollToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		refuse(&httpError{http.StatusUnauthorized, api.CodeInvalidToken, "invalid enrollment token"})
		return
	}
	var req api.RegisterDeviceRequest
	if err := decodeJSON(w, r, g.cfg.Limits.MaxJSONBytes, &req); err != nil {
		refuse(err)
		return
	}
	dev, err := deviceFromRequest(req, g.now().UTC())
	if err != nil {
		refuse(err)
		return
	}
	stored, created, err := d.reg.AddDevice(r.Context(), dev)
	if errors.Is(err, ErrDeviceConflict) {
		refuse(&httpError{http.StatusConflict, api.CodeDeviceConflict, DeviceConflictMessage(dev.ID, err)})
		return
	}
	if err != nil {
		refuse(fmt.Errorf("add device: %w", err))
		return
	}
	code, result := http.StatusCreated, "created"
	if !created {
		code, result = http.StatusOK, "existing"
	}
	d.enrolls.WithLabelValues(result).Inc()
	g.log.Info("device enrolled", "device_id", stored.ID, "fingerprint", api.KeyFingerprint(stored.PublicKey), "new", created)
	writeJSON(w, code, api.RegisterDeviceResponse{DeviceID: stored.ID, Fingerprint: api.KeyFingerprint(stored.PublicKey), CreatedAt: stored.CreatedAt})
}

// deviceFromRequest validates a registration.
func deviceFromRequest(req api.RegisterDeviceRequest, now time.Time) (Device, error) {
	if !validate.ID(req.DeviceID, 64) {
		return Device{}, badRequest("device_id: must be 1–64 characters of [A-Za-z0-9._-]")
	}
	pub, err := api.ParsePublicKey(strings.TrimSpace(req.PublicKey))
	if err != nil {
		return Device{}, badRequest("public_key: %v", err)
	}
	if req.Label != "" && !validText(req.Label, 128) {
		return Device{}, badRequest("label: must be at most 128 printable characters")
	}
	return Device{ID: req.DeviceID, PublicKey: pub, Label: req.Label, CreatedAt: now}, nil
}

// NewDevice validates a device id, a base64 public key and a label the way
// POST /v1/devices does, for tools that write the registry directly.
func NewDevice(id, publicKey, label string, now time.Time) (Device, error) {
	d, err := deviceFromRequest(api.RegisterDeviceRequest{DeviceID: id, PublicKey: publicKey, Label: label}, now)
	var he *httpError
	if errors.As(err, &he) {
		return Device{}, errors.New(he.msg)
	}
	return d, err
}
