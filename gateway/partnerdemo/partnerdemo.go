// Package partnerdemo is a sample partner backend for the faceverify
// gateway, used by the demo and the end-to-end tests (`facegateway partner`).
// It shows what a partner integrates:
//
//   - it authenticates to the gateway with its client_id and passkey and
//     caches the partner token until shortly before it expires (and drops it
//     when the gateway answers 401);
//   - it serves the reference-image API the gateway calls:
//     GET /reference?partner_user_id=X&partner_user_id_type=…&flow=… answers
//     api.ReferenceResponse JSON with the bytes of X.jpg, X.jpeg or X.png
//     from Config.ReferenceDir (first found, in that order), 404 if none;
//   - it receives completion callbacks on POST /callback, verifies their
//     api.SignatureHeader with its OWN keys (Config.CallbackKeys, selected
//     by the header's key id, so another partner's key cannot sign a
//     callback it accepts), checks that the body names its own client id,
//     de-duplicates them by delivery id (delivery is at least once) and
//     records them (in memory);
//   - it offers the kiosk-facing calls: POST /sessions {partner_user_id,
//     partner_user_id_type, flow} initiates a flow at the gateway with a
//     fresh correlation id and answers {token, correlation_id, base_url};
//     GET /sessions/{correlation_id} answers whether the callback arrived and
//     the gateway's api.SubmissionDetails.
//
// It keeps state in memory only; a real partner persists sessions.
package partnerdemo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/internal/validate"
)

// Environment variables read by the `facegateway partner` command.
const (
	EnvPasskey        = "FACEPARTNER_PASSKEY"
	EnvCallbackSecret = "FACEPARTNER_CALLBACK_SECRET"
	EnvCallbackKeyID  = "FACEPARTNER_CALLBACK_KEY_ID"
)

// Paths served by the partner.
const (
	PathReference = "/reference"
	PathCallback  = "/callback"
	PathSessions  = "/sessions"
	PathSession   = "/sessions/{correlation_id}"
)

// Config configures the sample partner.
type Config struct {
	// Listen is the partner's HTTP address, e.g. "127.0.0.1:8090".
	Listen string
	// GatewayURL is the gateway's base URL, e.g. "http://127.0.0.1:8080".
	GatewayURL string
	// KioskBaseURL is the base_url handed to kiosks in sessions; "" means
	// GatewayURL.
	KioskBaseURL string
	// ClientID and Passkey are the partner's gateway credentials.
	ClientID string
	Passkey  string
	// CallbackKeys are this partner's own callback keys (the gateway's
	// partners[].callback_secrets for ClientID): a callback is accepted when
	// the key named by its signature's kid verifies it; during a rotation
	// both the old and the new key are listed. A key with an empty ID
	// matches any kid. None accepts unsigned callbacks (never in
	// production).
	CallbackKeys []api.CallbackKey
	// DedupCapacity is how many delivery ids are remembered to recognise
	// a redelivered callback (oldest forgotten first); a real partner keeps
	// them in its database.
	DedupCapacity int
	// ReferenceDir holds the reference photos, named <partner_user_id>.jpg,
	// .jpeg or .png.
	ReferenceDir string
	// MaxReferenceBytes bounds a served reference photo.
	MaxReferenceBytes int64
	// SignatureTolerance is the accepted clock skew of callback timestamps.
	SignatureTolerance time.Duration
}

// DefaultConfig returns the demo defaults (credentials and folder unset).
func DefaultConfig() Config {
	return Config{
		Listen:             "127.0.0.1:8090",
		GatewayURL:         "http://127.0.0.1:8080",
		MaxReferenceBytes:  10 << 20,
		SignatureTolerance: 5 * time.Minute,
		DedupCapacity:      10_000,
	}
}

// Validate names the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Listen == "":
		return errors.New("listen: must not be empty")
	case c.ClientID == "":
		return errors.New("client_id: must not be empty")
	case c.Passkey == "":
		return fmt.Errorf("passkey: must not be empty (set %s)", EnvPasskey)
	case c.ReferenceDir == "":
		return errors.New("reference_dir: must not be empty")
	case c.MaxReferenceBytes <= 0:
		return fmt.Errorf("max_reference_bytes: must be > 0, got %d", c.MaxReferenceBytes)
	case c.DedupCapacity < 1:
		return fmt.Errorf("dedup_capacity: must be ≥ 1, got %d", c.DedupCapacity)
	}
	for i, k := range c.CallbackKeys {
		if len(k.Secret) == 0 {
			return fmt.Errorf("callback_keys[%d]: empty secret", i)
		}
	}
	u, err := url.Parse(c.GatewayURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("gateway_url: must be an absolute http(s) URL, got %q", c.GatewayURL)
	}
	if st, err := os.Stat(c.ReferenceDir); err != nil || !st.IsDir() {
		return fmt.Errorf("reference_dir: %q is not a readable directory", c.ReferenceDir)
	}
	return nil
}

// Options are the partner's collaborators; zero values get defaults.
type Options struct {
	Logger     *slog.Logger
	HTTPClient *http.Client     // calls to the gateway; default has a 30 s timeout
	Now        func() time.Time // default time.Now
}

// SessionRequest is the body of POST /sessions.
type SessionRequest struct {
	PartnerUserID     string `json:"partner_user_id"`
	PartnerUserIDType string `json:"partner_user_id_type"`
	Flow              string `json:"flow"`
}

// Session is what the kiosk needs to run a verification.
type Session struct {
	Token         string    `json:"token"` // the user token
	CorrelationID string    `json:"correlation_id"`
	BaseURL       string    `json:"base_url"`
	ExpiresAt     time.Time `json:"expires_at"`
	MaxAttempts   int       `json:"max_attempts"`
}

// ReceivedCallback is a verified callback as recorded by the partner.
type ReceivedCallback struct {
	Callback   api.Callback `json:"callback"`
	ReceivedAt time.Time    `json:"received_at"`
	KeyID      string       `json:"key_id"` // the key id that verified it ("" when unsigned)
	Count      int          `json:"count"`  // authenticated deliveries received (duplicates included)
	// Processed counts distinct deliveries acted on; a redelivery (same
	// delivery id) is acknowledged but not processed again, so a flow's
	// callback is processed once.
	Processed int `json:"processed"`
}

// SessionState is the body of GET /sessions/{correlation_id}.
type SessionState struct {
	CorrelationID    string                 `json:"correlation_id"`
	CallbackReceived bool                   `json:"callback_received"`
	Callback         *ReceivedCallback      `json:"callback,omitempty"`
	Details          *api.SubmissionDetails `json:"details,omitempty"`
}

// Partner is the sample partner backend. Safe for concurrent use.
type Partner struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	now    func() time.Time
	root   *os.Root

	tokMu  sync.Mutex
	token  string
	tokExp time.Time

	cbMu      sync.Mutex
	callbacks map[string]*ReceivedCallback
	seen      *dedup // delivery ids processed; guarded by cbMu

	tokenFetches int // for tests and logs; guarded by tokMu
}

// New returns a Partner after validating cfg.
func New(cfg Config, opts Options) (*Partner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("partner config: %w", err)
	}
	root, err := os.OpenRoot(cfg.ReferenceDir)
	if err != nil {
		return nil, fmt.Errorf("reference_dir: %w", err)
	}
	p := &Partner{cfg: cfg, log: opts.Logger, client: opts.HTTPClient, now: opts.Now, root: root,
		callbacks: map[string]*ReceivedCallback{}, seen: newDedup(cfg.DedupCapacity)}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("component", "partner")
	if p.client == nil {
		p.client = &http.Client{Timeout: 30 * time.Second}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.cfg.KioskBaseURL == "" {
		p.cfg.KioskBaseURL = cfg.GatewayURL
	}
	p.cfg.GatewayURL = strings.TrimRight(p.cfg.GatewayURL, "/")
	return p, nil
}

// Handler is the partner's HTTP API.
func (p *Partner) Handler() http.Handler {
	r := chi.NewRouter()
	r.Get(PathReference, p.handleReference)
	r.Post(PathCallback, p.handleCallback)
	r.Post(PathSessions, p.handleCreateSession)
	r.Get(PathSession, p.handleSession)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mountKiosk(r) // the Web SDK and the example kiosk page (kiosk.go)
	return r
}

// Run listens on Config.Listen and calls Serve.
func (p *Partner) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", p.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", p.cfg.Listen, err)
	}
	return p.Serve(ctx, ln)
}

// Serve serves Handler on ln until ctx is cancelled, then shuts down
// gracefully and returns nil. It closes ln.
func (p *Partner) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	p.log.Info("serving", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("partner server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return nil
}

// Close releases the reference folder; call it after Serve returns.
func (p *Partner) Close() error { return p.root.Close() }

// tokenRefreshMargin is how long before expiry a cached token is renewed:
// one minute, or half the lifetime of very short-lived tokens.
func tokenRefreshMargin(lifetime time.Duration) time.Duration {
	return min(time.Minute, lifetime/2)
}

// Token returns a partner token, from the cache while it is valid for
// longer than the refresh margin, otherwise fetched from POST /v1/token.
func (p *Partner) Token(ctx context.Context) (string, error) {
	p.tokMu.Lock()
	defer p.tokMu.Unlock()
	now := p.now()
	if p.token != "" && now.Before(p.tokExp) {
		return p.token, nil
	}
	body, _ := json.Marshal(api.TokenRequest{ClientID: p.cfg.ClientID, Passkey: p.cfg.Passkey})
	var tr api.TokenResponse
	if err := p.do(ctx, http.MethodPost, api.PathToken, "", body, &tr); err != nil {
		return "", fmt.Errorf("get partner token: %w", err)
	}
	p.tokenFetches++
	p.token = tr.PartnerToken
	p.tokExp = tr.ExpiresAt.Add(-tokenRefreshMargin(tr.ExpiresAt.Sub(now)))
	p.log.Info("partner token refreshed", "expires_at", tr.ExpiresAt)
	return p.token, nil
}

// TokenFetches reports how many tokens were fetched from the gateway.
func (p *Partner) TokenFetches() int {
	p.tokMu.Lock()
	defer p.tokMu.Unlock()
	return p.tokenFetches
}

// dropToken forgets tok if it is still the cached one.
func (p *Partner) dropToken(tok string) {
	p.tokMu.Lock()
	defer p.tokMu.Unlock()
	if p.token == tok {
		p.token = ""
	}
}

// StatusError is a non-2xx answer of the gateway.
type StatusError struct {
	Status int
	Err    api.Error
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("gateway answered %d %s: %s", e.Status, e.Err.Code, e.Err.Message)
}

// do calls the gateway; a non-2xx answer is a *StatusError.
func (p *Partner) do(ctx context.Context, method, path, token string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.cfg.GatewayURL+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := &StatusError{Status: resp.StatusCode}
		json.Unmarshal(data, &se.Err)
		return se
	}
	return json.Unmarshal(data, out)
}

// authed calls a partner endpoint with the cached token, renewing it once if
// the gateway answers 401.
func (p *Partner) authed(ctx context.Context, method, path string, body []byte, out any) error {
	for try := 0; ; try++ {
		tok, err := p.Token(ctx)
		if err != nil {
			return err
		}
		err = p.do(ctx, method, path, tok, body, out)
		var se *StatusError
		if try == 0 && errors.As(err, &se) && se.Status == http.StatusUnauthorized {
			p.dropToken(tok)
			continue
		}
		return err
	}
}

// StartSession initiates a flow at the gateway with a fresh correlation id.
func (p *Partner) StartSession(ctx context.Context, req SessionRequest) (Session, error) {
	var b [12]byte
	rand.Read(b[:])
	cid := "demo-" + hex.EncodeToString(b[:])
	body, _ := json.Marshal(api.InitiateRequest{
		PartnerUserID: req.PartnerUserID, PartnerUserIDType: req.PartnerUserIDType,
		Flow: req.Flow, CorrelationID: cid,
	})
	var ir api.InitiateResponse
	if err := p.authed(ctx, http.MethodPost, api.PathFlows, body, &ir); err != nil {
		return Session{}, fmt.Errorf("initiate flow: %w", err)
	}
	p.log.Info("session started", "correlation_id", ir.CorrelationID)
	return Session{Token: ir.UserToken, CorrelationID: ir.CorrelationID, BaseURL: p.cfg.KioskBaseURL,
		ExpiresAt: ir.ExpiresAt, MaxAttempts: ir.MaxAttempts}, nil
}

// Details fetches the gateway's SubmissionDetails of a flow.
func (p *Partner) Details(ctx context.Context, correlationID string) (api.SubmissionDetails, error) {
	var d api.SubmissionDetails
	err := p.authed(ctx, http.MethodGet, strings.Replace(api.PathDetails, "{correlation_id}", url.PathEscape(correlationID), 1), nil, &d)
	return d, err
}

// Callback returns the recorded callback of a flow, if any.
func (p *Partner) Callback(correlationID string) (ReceivedCallback, bool) {
	p.cbMu.Lock()
	defer p.cbMu.Unlock()
	cb, ok := p.callbacks[correlationID]
	if !ok {
		return ReceivedCallback{}, false
	}
	return *cb, true
}

// SessionState combines the recorded callback and the gateway's details.
func (p *Partner) SessionState(ctx context.Context, correlationID string) (SessionState, error) {
	st := SessionState{CorrelationID: correlationID}
	if cb, ok := p.Callback(correlationID); ok {
		st.CallbackReceived, st.Callback = true, &cb
	}
	d, err := p.Details(ctx, correlationID)
	if err != nil {
		return st, err
	}
	st.Details = &d
	return st, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, c, msg string) {
	writeJSON(w, code, api.Error{Code: c, Message: msg})
}

// validUserID accepts ids usable as file names: [A-Za-z0-9._-], not
// starting with '.'.
func validUserID(s string) bool {
	return validate.IDChars(s, 128) && s[0] != '.'
}

// ReferenceImage reads the reference photo of a user from ReferenceDir;
// the error wraps fs.ErrNotExist when there is none.
func (p *Partner) ReferenceImage(userID string) ([]byte, error) {
	if !validUserID(userID) {
		return nil, fmt.Errorf("partner_user_id %q: %w", userID, fs.ErrNotExist)
	}
	for _, ext := range []string{".jpg", ".jpeg", ".png"} {
		f, err := p.root.Open(userID + ext)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(io.LimitReader(f, p.cfg.MaxReferenceBytes+1))
		f.Close()
		if err != nil {
			return nil, err
		}
		if int64(len(data)) > p.cfg.MaxReferenceBytes {
			return nil, fmt.Errorf("%s%s: longer than %d bytes", userID, ext, p.cfg.MaxReferenceBytes)
		}
		return data, nil
	}
	return nil, fmt.Errorf("no reference photo for %q: %w", userID, fs.ErrNotExist)
}

func (p *Partner) handleReference(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("partner_user_id")
	if !validUserID(id) {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "partner_user_id: must be [A-Za-z0-9._-]")
		return
	}
	data, err := p.ReferenceImage(id)
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusNotFound, api.CodeNotFound, "no reference photo for this user")
		return
	}
	if err != nil {
		p.log.Error("read reference", "err", err)
		writeError(w, http.StatusInternalServerError, api.CodeInternal, "cannot read reference photo")
		return
	}
	writeJSON(w, http.StatusOK, api.ReferenceResponse{Image: data})
}

func (p *Partner) handleCallback(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, "callback too large")
		return
	}
	kid := ""
	if len(p.cfg.CallbackKeys) > 0 {
		kid, err = api.VerifyCallback(p.cfg.CallbackKeys, r.Header.Get(api.SignatureHeader), body, p.now(), p.cfg.SignatureTolerance)
		if err != nil {
			p.log.Warn("callback refused", "err", err)
			writeError(w, http.StatusUnauthorized, "bad_signature", err.Error())
			return
		}
	}
	var cb api.Callback
	if err := json.Unmarshal(body, &cb); err != nil || cb.CorrelationID == "" || cb.DeliveryID == "" {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "invalid callback body (correlation_id and delivery_id required)")
		return
	}
	if cb.PartnerID != p.cfg.ClientID {
		// Signed with our key yet addressed to another partner: refuse, so
		// a callback can never be taken for another partner's.
		p.log.Warn("callback refused: addressed to another partner", "partner_id", truncate(cb.PartnerID, 64), "delivery_id", truncate(cb.DeliveryID, 64))
		writeError(w, http.StatusForbidden, "wrong_partner", "callback is addressed to another partner")
		return
	}
	p.cbMu.Lock()
	dup := !p.seen.add(cb.DeliveryID)
	rc, ok := p.callbacks[cb.CorrelationID]
	if !ok {
		rc = &ReceivedCallback{Callback: cb, ReceivedAt: p.now().UTC(), KeyID: kid}
		p.callbacks[cb.CorrelationID] = rc
	}
	rc.Count++
	if !dup {
		rc.Processed++
	}
	p.cbMu.Unlock()
	if dup {
		// At-least-once delivery: acknowledge, act once.
		p.log.Info("callback already processed", "delivery_id", cb.DeliveryID, "correlation_id", cb.CorrelationID, "event", cb.Event)
		w.WriteHeader(http.StatusOK)
		return
	}
	p.log.Info("callback received", "delivery_id", cb.DeliveryID, "event", cb.Event, "correlation_id", cb.CorrelationID,
		"status", cb.Status, "reason", cb.Reason, "kid", kid)
	w.WriteHeader(http.StatusNoContent)
}

// truncate shortens an untrusted string for logging.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (p *Partner) handleCreateSession(w http.ResponseWriter, r *http.Request) {
	var req SessionRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "invalid JSON body")
		return
	}
	if req.PartnerUserIDType == "" {
		req.PartnerUserIDType = "account"
	}
	if req.Flow == "" {
		req.Flow = api.FlowSelfie
	}
	s, err := p.StartSession(r.Context(), req)
	var se *StatusError
	if errors.As(err, &se) {
		writeJSON(w, se.Status, se.Err)
		return
	}
	if err != nil {
		p.log.Error("start session", "err", err)
		writeError(w, http.StatusBadGateway, "gateway_unavailable", err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, s)
}

func (p *Partner) handleSession(w http.ResponseWriter, r *http.Request) {
	st, err := p.SessionState(r.Context(), chi.URLParam(r, "correlation_id"))
	var se *StatusError
	if errors.As(err, &se) {
		writeJSON(w, se.Status, se.Err)
		return
	}
	if err != nil {
		writeError(w, http.StatusBadGateway, "gateway_unavailable", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}
