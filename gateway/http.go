package gateway

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/internal/validate"
)

// routes builds the HTTP API.
func (g *Gateway) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(g.instrument)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, api.CodeNotFound, "no such endpoint")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "method not allowed")
	})
	r.Post(api.PathToken, g.handleToken)
	r.Post(api.PathFlows, g.handleInitiate)
	r.Post(api.PathSubmissions, g.handleSubmit)
	r.Post(api.PathDevices, g.handleRegisterDevice)
	r.Get(api.PathStatus, g.handleStatus)
	r.Get(api.PathDetails, g.handleDetails)
	r.Delete(api.PathUsers, g.handleEraseUser) // privacy.go
	r.Get(api.PathOpenAPI, handleOpenAPI)      // openapi.go
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{}))
	return r
}

// instrument counts requests by route pattern and recovers panics as 500.
func (g *Gateway) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				g.log.Error("handler panic", "path", r.URL.Path, "panic", fmt.Sprint(p))
				if ww.Status() == 0 {
					writeError(ww, http.StatusInternalServerError, api.CodeInternal, "internal error")
				}
			}
			route := "unmatched"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			code := ww.Status()
			if code == 0 {
				code = http.StatusOK
			}
			g.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(code)).Inc()
			g.metrics.reqDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
			g.log.Debug("request", "method", r.Method, "route", route, "code", code, "duration_ms", time.Since(start).Milliseconds())
		}()
		next.ServeHTTP(ww, r)
	})
}

// writeJSON writes v as the JSON body with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// writeError writes an api.Error.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, api.Error{Code: code, Message: msg})
}

// httpError is an API error carried up to the handler.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.code + ": " + e.msg }

func badRequest(format string, args ...any) *httpError {
	return &httpError{http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf(format, args...)}
}

// fail writes err as an api.Error; errors that are not *httpError are
// logged and answered 500 without detail.
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, err error) {
	var le *limitError
	if errors.As(err, &le) {
		le.write(w)
		return
	}
	var he *httpError
	if errors.As(err, &he) {
		var ra *retryAfterError
		if errors.As(err, &ra) {
			w.Header().Set("Retry-After", ra.after)
		}
		writeError(w, he.status, he.code, he.msg)
		return
	}
	if r.Context().Err() == nil {
		g.log.Error("request failed", "path", r.URL.Path, "err", err)
	}
	writeError(w, http.StatusInternalServerError, api.CodeInternal, "internal error")
}

// decodeJSON reads a JSON body of at most limit bytes into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &httpError{http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType, "body must be application/json"}
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &httpError{http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, fmt.Sprintf("body longer than %d bytes", mbe.Limit)}
		}
		return badRequest("invalid JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("invalid JSON body: trailing data")
	}
	return nil
}

// authenticate returns the unexpired token of the request's bearer header,
// which must be of kind.
func (g *Gateway) authenticate(r *http.Request, kind TokenKind) (Token, error) {
	s := bearer(r)
	if s == "" {
		return Token{}, &httpError{http.StatusUnauthorized, api.CodeInvalidToken, "missing bearer token"}
	}
	tok, err := g.store.LookupToken(r.Context(), hashToken(s), g.now())
	if errors.Is(err, ErrNotFound) || err == nil && tok.Kind != kind {
		return Token{}, &httpError{http.StatusUnauthorized, api.CodeInvalidToken, fmt.Sprintf("invalid or expired %s token", kind)}
	}
	if err != nil {
		return Token{}, fmt.Errorf("lookup token: %w", err)
	}
	return tok, nil
}

func (g *Gateway) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := g.limits.take(g.limits.tokenSource, g.limits.source(r), g.now()); err != nil {
		g.fail(w, r, err)
		return
	}
	var req api.TokenRequest
	if err := decodeJSON(w, r, g.cfg.Limits.MaxJSONBytes, &req); err != nil {
		g.fail(w, r, err)
		return
	}
	if req.ClientID == "" || req.Passkey == "" {
		g.fail(w, r, badRequest("client_id and passkey: both required"))
		return
	}
	p, known := g.cfg.partner(req.ClientID)
	clientKey := "?" // unknown client ids share one bucket
	if known {
		clientKey = p.ClientID
	}
	if err := g.limits.take(g.limits.tokenClient, clientKey, g.now()); err != nil {
		g.fail(w, r, err)
		return
	}
	ok, err := g.passkeys.check(r.Context(), req.ClientID, req.Passkey)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	if !ok {
		g.log.Info("token refused", "client_id", truncate(req.ClientID, 64))
		writeError(w, http.StatusUnauthorized, api.CodeInvalidCredentials, "unknown client_id or wrong passkey")
		return
	}
	tok, hash := newToken()
	exp := g.now().Add(g.cfg.Tokens.PartnerTTL).UTC()
	if err := g.store.PutToken(r.Context(), Token{Hash: hash, Kind: TokenPartner, PartnerID: p.ClientID, ExpiresAt: exp}); err != nil {
		g.fail(w, r, fmt.Errorf("store token: %w", err))
		return
	}
	if err := g.audit(r.Context(), partnerActor(p.ClientID), AuditPartnerToken, p.ClientID, nil); err != nil {
		g.fail(w, r, err) // the token is never shown, so it is useless
		return
	}
	writeJSON(w, http.StatusOK, api.TokenResponse{PartnerToken: tok, ExpiresAt: exp})
}

// validateInitiate checks an InitiateRequest's fields.
func validateInitiate(req api.InitiateRequest) error {
	switch {
	case !validText(req.PartnerUserID, 128):
		return badRequest("partner_user_id: must be 1–128 printable characters")
	case !validate.ID(req.PartnerUserIDType, 32):
		return badRequest("partner_user_id_type: must be 1–32 characters of [A-Za-z0-9._-]")
	case req.Flow != api.FlowSelfie && req.Flow != api.FlowKTP:
		return badRequest("flow: must be %q or %q", api.FlowSelfie, api.FlowKTP)
	case !validate.ID(req.CorrelationID, 128):
		return badRequest("correlation_id: must be 1–128 characters of [A-Za-z0-9._-], not \".\" or \"..\"")
	}
	return nil
}

func (g *Gateway) handleInitiate(w http.ResponseWriter, r *http.Request) {
	ptok, err := g.authenticate(r, TokenPartner)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	if err := g.limits.take(g.limits.initiateClient, ptok.PartnerID, g.now()); err != nil {
		g.fail(w, r, err)
		return
	}
	var req api.InitiateRequest
	if err := decodeJSON(w, r, g.cfg.Limits.MaxJSONBytes, &req); err != nil {
		g.fail(w, r, err)
		return
	}
	if err := validateInitiate(req); err != nil {
		g.fail(w, r, err)
		return
	}
	p, ok := g.cfg.partner(ptok.PartnerID)
	if !ok { // partner removed from config since the token was issued
		g.fail(w, r, &httpError{http.StatusUnauthorized, api.CodeInvalidToken, "partner no longer configured"})
		return
	}
	if !containsString(p.Flows, req.Flow) {
		g.fail(w, r, &httpError{http.StatusForbidden, api.CodeFlowNotAllowed, fmt.Sprintf("flow %q is not enabled for this partner", req.Flow)})
		return
	}
	if err := g.checkLockout(r.Context(), UserKey{p.ClientID, req.PartnerUserID, req.PartnerUserIDType}, "initiate", req.CorrelationID); err != nil {
		g.fail(w, r, err)
		return
	}
	// reference_check: the reference is fetched and analysed before the
	// flow exists, so an unusable one creates nothing (refcheck.go).
	checked, checkDone, err := g.checkReference(r.Context(), p, req)
	defer checkDone() // a check shared with concurrent repeats ends with this initiation
	if err != nil {
		g.fail(w, r, err)
		return
	}
	now := g.now().UTC()
	flow, created, err := g.store.CreateFlow(r.Context(), Flow{
		ID:                newID("flw_"),
		PartnerID:         p.ClientID,
		CorrelationID:     req.CorrelationID,
		PartnerUserID:     req.PartnerUserID,
		PartnerUserIDType: req.PartnerUserIDType,
		Kind:              req.Flow,
		CreatedAt:         now,
	})
	if errors.Is(err, ErrCorrelationConflict) {
		g.fail(w, r, &httpError{http.StatusConflict, api.CodeCorrelationConflict, "correlation_id already used for another user or flow"})
		return
	}
	if err != nil {
		g.fail(w, r, fmt.Errorf("create flow: %w", err))
		return
	}
	if !created && flow.Final() {
		// A final verdict belongs to the capture that earned it: a new
		// token for it would let another capture read that verdict.
		g.fail(w, r, &httpError{http.StatusConflict, api.CodeFlowFinal, "correlation_id names a verification that is already final (" + flow.Status + "); start a new one with a new correlation_id"})
		return
	}
	tok, hash := newToken()
	exp := now.Add(g.cfg.Tokens.UserTTL)
	if err := g.store.PutToken(r.Context(), Token{Hash: hash, Kind: TokenUser, PartnerID: p.ClientID, FlowID: flow.ID, ExpiresAt: exp}); err != nil {
		g.fail(w, r, fmt.Errorf("store token: %w", err))
		return
	}
	if err := g.audit(r.Context(), partnerActor(p.ClientID), AuditUserToken, FlowRef(g.cfg.Audit.Key, p.ClientID, flow.CorrelationID), nil); err != nil {
		g.fail(w, r, err)
		return
	}
	code := http.StatusCreated
	if !created {
		code = http.StatusOK
	}
	if checked != nil {
		g.storeCheckedReference(r.Context(), flow, *checked)
	} else {
		g.prefetchReference(flow, p)
	}
	g.log.Info("flow initiated", "client_id", p.ClientID, "correlation_id", flow.CorrelationID, "flow", flow.Kind, "new", created)
	writeJSON(w, code, api.InitiateResponse{
		UserToken:        tok,
		ExpiresAt:        exp,
		CorrelationID:    flow.CorrelationID,
		MaxAttempts:      g.cfg.Verification.MaxAttempts,
		ReferenceChecked: checked != nil,
	})
}

// submissionLimit is the largest SubmissionRequest body: the selfie and
// its extras in base64 plus the other fields.
func (g *Gateway) submissionLimit() int64 {
	return (1+api.MaxSelfieExtra)*((g.cfg.Limits.MaxSelfieBytes+2)/3*4) + g.cfg.Limits.MaxJSONBytes
}

// validateSubmission checks a SubmissionRequest and returns the effective
// idempotency key (body or Idempotency-Key header).
func (g *Gateway) validateSubmission(ctx context.Context, req *api.SubmissionRequest, header string) (string, error) {
	key := req.IdempotencyKey
	if header != "" {
		if key != "" && key != header {
			return "", badRequest("idempotency_key: differs from the Idempotency-Key header")
		}
		key = header
	}
	switch {
	case key != "" && !validText(key, 128):
		return "", badRequest("idempotency_key: must be 1–128 printable characters")
	case len(req.Selfie) == 0:
		return "", badRequest("selfie: required (JPEG or PNG bytes, base64 in JSON)")
	case int64(len(req.Selfie)) > g.cfg.Limits.MaxSelfieBytes:
		return "", &httpError{http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, fmt.Sprintf("selfie: %d bytes, limit %d", len(req.Selfie), g.cfg.Limits.MaxSelfieBytes)}
	case !validText(req.DeviceID, 128):
		return "", badRequest("device_id: must be 1–128 printable characters")
	case req.DeviceLiveness.Score < 0 || req.DeviceLiveness.Score > 1:
		return "", badRequest("device_liveness.score: must be in [0,1]")
	case len(req.DeviceLiveness.Model) > 128:
		return "", badRequest("device_liveness.model: longer than 128 characters")
	}
	// Decode in full now (decodebudget.go), so a corrupt, oversized or
	// over-budget capture is refused before it is stored and costs the
	// user no attempt.
	if err := g.checkSelfie(ctx, req.Selfie); err != nil {
		return "", err
	}
	if err := g.validateExtras(ctx, req.SelfieExtra); err != nil {
		return "", err
	}
	return key, nil
}

func (g *Gateway) handleSubmit(w http.ResponseWriter, r *http.Request) {
	utok, err := g.authenticate(r, TokenUser)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	if err := g.limitSubmission(r, utok); err != nil {
		g.refused(w, r, err)
		return
	}
	signedBy, err := g.verifyDevice(w, r, utok)
	if err != nil {
		g.refused(w, r, err)
		return
	}
	var req api.SubmissionRequest
	if err := decodeJSON(w, r, g.submissionLimit(), &req); err != nil {
		g.refused(w, r, err)
		return
	}
	// Per device before the selfie is decoded: the signing device, or the
	// claimed one when unsigned submissions are accepted.
	if err := g.limits.take(g.limits.submitDevice, cmp.Or(signedBy, req.DeviceID), g.now()); err != nil {
		g.refused(w, r, err)
		return
	}
	key, err := g.validateSubmission(r.Context(), &req, r.Header.Get("Idempotency-Key"))
	if err != nil {
		g.refused(w, r, err)
		return
	}
	if signedBy != "" && req.DeviceID != signedBy {
		g.refused(w, r, &httpError{http.StatusUnauthorized, api.CodeBadSignature, "device_id differs from " + api.DeviceHeader})
		return
	}
	if signedBy != "" {
		if err := g.checkSignature(r, utok, &req); err != nil {
			g.refused(w, r, err)
			return
		}
	}
	bundle := packSelfies(req.Selfie, req.SelfieExtra)
	fp := sha256.Sum256(bundle)
	dl := req.DeviceLiveness.Score
	sub := Submission{
		ID:             newID("sub_"),
		FlowID:         utok.FlowID,
		IdempotencyKey: key,
		Fingerprint:    fp[:],
		DeviceID:       req.DeviceID,
		DeviceLiveness: &dl,
		DeviceLive:     req.DeviceLiveness.Live,
		DeviceModel:    req.DeviceLiveness.Model,
		CapturedAt:     req.CapturedAt,
		SubmittedAt:    g.now().UTC(),
	}
	if sub.Selfie, err = g.keys.Seal(sub.SubmittedAt, sub.ID, bundle); err != nil {
		g.refused(w, r, fmt.Errorf("seal selfie: %w", err))
		return
	}
	stored, dup, err := g.store.CreateSubmission(r.Context(), sub, g.cfg.Verification.MaxAttempts)
	switch {
	case errors.Is(err, ErrAttemptsExhausted):
		err = &httpError{http.StatusConflict, api.CodeAttemptsExhausted, "no attempts left (" + api.ReasonAttemptsExhausted + ")"}
	case errors.Is(err, ErrFlowFinal):
		err = &httpError{http.StatusConflict, api.CodeFlowFinal, "the verification is already final"}
	case errors.Is(err, ErrInProgress):
		err = &httpError{http.StatusConflict, api.CodeInProgress, "an earlier attempt is still processing; poll " + api.PathStatus}
	case errors.Is(err, ErrIdempotencyConflict):
		err = &httpError{http.StatusConflict, api.CodeIdempotencyConflict, "idempotency key already used with a different selfie"}
	case err != nil:
		err = fmt.Errorf("create submission: %w", err)
	}
	if err != nil || dup {
		g.decoded.drop(fp) // no worker will analyse this upload
	}
	if err != nil {
		g.refused(w, r, err)
		return
	}
	resp := api.SubmissionResponse{SubmissionID: stored.ID, Attempt: stored.Attempt, Status: api.StatusProcessing, Duplicate: dup}
	if dup {
		// A repeat of a decided attempt answers its decision.
		if stored.State == StateDone && stored.Status != "" {
			resp.Status = stored.Status
		}
		g.metrics.submissions.WithLabelValues("duplicate").Inc()
		writeJSON(w, http.StatusOK, resp)
		return
	}
	g.metrics.submissions.WithLabelValues("accepted").Inc()
	g.log.Info("submission accepted", "submission_id", stored.ID, "flow_id", stored.FlowID, "attempt", stored.Attempt, "device_id", stored.DeviceID)
	signal(g.wakeWork)
	writeJSON(w, http.StatusAccepted, resp)
}

// refused counts a refused submission and writes the error.
func (g *Gateway) refused(w http.ResponseWriter, r *http.Request, err error) {
	g.metrics.submissions.WithLabelValues("refused").Inc()
	g.fail(w, r, err)
}

// deriveStatus tells the device where its flow stands, from the flow and its
// attempts (in attempt order):
//
//   - final flow → its status, EXIT, its reason;
//   - no attempt yet → PENDING, RETRY (submit a selfie);
//   - last attempt not processed yet → PROCESSING, STATUS, retry_after_ms;
//   - last attempt rejected, flow still open → REJECTED, RETRY, its reason.
func deriveStatus(f Flow, subs []Submission, maxAttempts, retryAfterMS int) api.StatusResponse {
	st := api.StatusResponse{CorrelationID: f.CorrelationID, AttemptsLeft: max(0, maxAttempts-len(subs))}
	switch {
	case f.Final():
		st.Status, st.NextAction, st.Reason = f.Status, api.ActionExit, f.Reason
	case len(subs) == 0:
		st.Status, st.NextAction = api.StatusPending, api.ActionRetry
	case subs[len(subs)-1].State != StateDone:
		st.Status, st.NextAction, st.RetryAfterMS = api.StatusProcessing, api.ActionStatus, retryAfterMS
	default:
		last := subs[len(subs)-1]
		st.Status, st.NextAction, st.Reason = last.Status, api.ActionRetry, last.Reason
	}
	return st
}

// handleStatus answers GET /v1/status[?wait=…]; the long poll is in
// statuswait.go.
//
// The token is checked before the query: a caller without a valid user
// token learns nothing about parameter parsing (401 whatever wait says).
func (g *Gateway) handleStatus(w http.ResponseWriter, r *http.Request) {
	utok, err := g.authenticate(r, TokenUser)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	wait, err := g.parseWait(r)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	st, err := g.flowStatus(r.Context(), utok.FlowID)
	if err == nil && wait > 0 && st.NextAction == api.ActionStatus {
		st, err = g.waitStatus(r.Context(), utok.FlowID, st, wait)
	}
	if err != nil {
		g.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// flowWithAttempts loads a flow and its attempts. The attempts are read
// first: a result and the flow's closing are committed together, so a flow
// read afterwards is final whenever the attempts show the final result.
func (g *Gateway) flowWithAttempts(ctx context.Context, flowID string) (Flow, []Submission, error) {
	subs, err := g.store.Submissions(ctx, flowID)
	if err != nil {
		return Flow{}, nil, fmt.Errorf("load submissions: %w", err)
	}
	flow, err := g.store.FlowByID(ctx, flowID)
	if err != nil {
		return Flow{}, nil, fmt.Errorf("load flow: %w", err)
	}
	return flow, subs, nil
}

// details builds the partner's view of a flow. Scores and thresholds are
// those of the latest processed attempt (thresholds default to the current
// configuration before any attempt is processed).
func details(f Flow, subs []Submission, cfg Config) api.SubmissionDetails {
	d := api.SubmissionDetails{
		CorrelationID:     f.CorrelationID,
		PartnerUserID:     f.PartnerUserID,
		PartnerUserIDType: f.PartnerUserIDType,
		Flow:              f.Kind,
		Thresholds:        api.Thresholds{Similarity: cfg.Inference.MatchThreshold, Liveness: cfg.Inference.LivenessThreshold},
		Attempts:          make([]api.Attempt, 0, len(subs)),
		CreatedAt:         f.CreatedAt,
	}
	for _, s := range subs {
		a := api.Attempt{
			Attempt:     s.Attempt,
			DeviceID:    s.DeviceID,
			Status:      s.Status,
			Reason:      s.Reason,
			Detail:      s.Detail,
			Scores:      api.Scores{Similarity: s.Similarity, Liveness: s.Liveness, DeviceLiveness: s.DeviceLiveness},
			SubmittedAt: s.SubmittedAt,
		}
		if s.State == StateDone {
			t := s.ProcessedAt
			a.ProcessedAt = &t
			d.Scores, d.Detail = a.Scores, a.Detail
			d.Thresholds = api.Thresholds{Similarity: s.MatchThreshold, Liveness: s.LivenessThreshold}
		}
		d.Attempts = append(d.Attempts, a)
	}
	st := deriveStatus(f, subs, cfg.Verification.MaxAttempts, 0)
	d.Status, d.Reason = st.Status, st.Reason
	if f.Final() {
		t := f.CompletedAt
		d.CompletedAt = &t
	}
	return d
}

func (g *Gateway) handleDetails(w http.ResponseWriter, r *http.Request) {
	ptok, err := g.authenticate(r, TokenPartner)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	cid := chi.URLParam(r, "correlation_id")
	flow, err := g.store.FlowByCorrelation(r.Context(), ptok.PartnerID, cid)
	if errors.Is(err, ErrNotFound) {
		g.fail(w, r, &httpError{http.StatusNotFound, api.CodeNotFound, "no flow with this correlation_id"})
		return
	}
	if err != nil {
		g.fail(w, r, fmt.Errorf("load flow: %w", err))
		return
	}
	flow, subs, err := g.flowWithAttempts(r.Context(), flow.ID)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	if err := g.audit(r.Context(), partnerActor(ptok.PartnerID), AuditDetailsRead, FlowRef(g.cfg.Audit.Key, ptok.PartnerID, cid), nil); err != nil {
		g.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, details(flow, subs, g.cfg))
}

// validText reports whether s is 1..max bytes of printable UTF-8.
func validText(s string, max int) bool {
	if s == "" || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// truncate shortens s for logging.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
