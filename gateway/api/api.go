// Package api holds the JSON wire types of the faceverify gateway's HTTP API
// (all under /v1). The gateway server, the agent's uplink client and the
// sample partner share them, so the contract lives in one place.
//
// Authentication: partner endpoints take "Authorization: Bearer <partner
// token>"; device endpoints take "Authorization: Bearer <user token>".
// Errors are returned as Error with a 4xx/5xx status.
//
// The same contract for integrators is the OpenAPI 3.1 document
// openapi.json (OpenAPI), served by the gateway at PathOpenAPI; the
// gateway's tests hold every exchange with it.
package api

import "time"

// Paths of the gateway API.
const (
	PathToken       = "/v1/token"                        // POST TokenRequest → TokenResponse
	PathFlows       = "/v1/flows"                        // POST InitiateRequest → InitiateResponse (partner token)
	PathSubmissions = "/v1/submissions"                  // POST SubmissionRequest → SubmissionResponse (user token)
	PathStatus      = "/v1/status"                       // GET → StatusResponse (user token)
	PathDetails     = "/v1/submissions/{correlation_id}" // GET → SubmissionDetails (partner token)
	PathUsers       = "/v1/users/{partner_user_id}"      // DELETE ?partner_user_id_type=… → UserErasure (partner token)
)

// Flow kinds: where the reference image comes from.
const (
	FlowSelfie = "selfie" // reference is an earlier selfie held by the partner
	FlowKTP    = "ktp"    // reference is the photo on an ID card (KTP)
)

// Status values of a verification.
const (
	StatusProcessing = "PROCESSING"
	StatusVerified   = "VERIFIED"
	StatusRejected   = "REJECTED"
	// StatusPending: the flow was initiated and no selfie was submitted
	// yet; next_action is RETRY (submit one).
	StatusPending = "PENDING"
	// StatusExpired: the flow's user token expired before a final
	// decision (final, next_action EXIT, event EventFlowExpired).
	StatusExpired = "EXPIRED"
)

// Next actions the device must take after a status poll.
const (
	ActionStatus = "STATUS" // keep polling after RetryAfterMS
	ActionRetry  = "RETRY"  // capture again and submit a new selfie
	ActionExit   = "EXIT"   // the verification is final
)

// Reasons for a rejection (and for a RETRY).
const (
	ReasonNoFace               = "NO_FACE"
	ReasonMultipleFaces        = "MULTIPLE_FACES"
	ReasonLowQuality           = "LOW_QUALITY"
	ReasonLivenessFailed       = "LIVENESS_FAILED"
	ReasonFaceMismatch         = "FACE_MISMATCH"
	ReasonReferenceUnavailable = "REFERENCE_UNAVAILABLE"
	ReasonAttemptsExhausted    = "ATTEMPTS_EXHAUSTED"
	// ReasonProcessingError: the gateway could not analyse this capture
	// (repeated internal failures); like a quality rejection it consumes
	// the attempt and the device may RETRY while attempts remain.
	ReasonProcessingError = "PROCESSING_ERROR"
	// ReasonReferenceReplay: the selfie is the partner's reference image
	// or an edit of it (resized, cropped, re-compressed, mirrored,
	// greyscale, framed, slightly rotated): an injection attack; final.
	ReasonReferenceReplay = "REFERENCE_REPLAY"
	// ReasonSubmissionReplay: the selfie repeats one submitted earlier in
	// another flow (any user, within the gateway's replay window), byte for
	// byte or as a near-identical face crop: an injection attack; final.
	ReasonSubmissionReplay = "SUBMISSION_REPLAY"
)

// TokenRequest asks the token gateway for a partner token.
type TokenRequest struct {
	ClientID string `json:"client_id"`
	Passkey  string `json:"passkey"`
}

// TokenResponse carries a partner token, valid until ExpiresAt.
type TokenResponse struct {
	PartnerToken string    `json:"partner_token"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// InitiateRequest starts a verification flow for one of the partner's users.
type InitiateRequest struct {
	PartnerUserID     string `json:"partner_user_id"`
	PartnerUserIDType string `json:"partner_user_id_type"` // e.g. "account", "msisdn", "nik"
	Flow              string `json:"flow"`                 // FlowSelfie or FlowKTP
	CorrelationID     string `json:"correlation_id"`       // the partner's session id, unique per partner
	// ReferenceCheck asks the gateway to fetch and analyse the user's
	// reference image now, before answering: a reference without one
	// usable face (or that the partner's reference API refuses) is
	// answered 422 CodeReferenceUnusable with the reason in message, and
	// a reference API that cannot be reached after its retries 502
	// CodeReferenceUnavailable; neither creates the flow or a token.
	// Without it the reference is fetched in the background and an
	// unusable one rejects the first live selfie as
	// REFERENCE_UNAVAILABLE.
	ReferenceCheck bool `json:"reference_check,omitempty"`
}

// InitiateResponse carries the short-lived user token handed to the kiosk.
type InitiateResponse struct {
	UserToken     string    `json:"user_token"`
	ExpiresAt     time.Time `json:"expires_at"`
	CorrelationID string    `json:"correlation_id"`
	MaxAttempts   int       `json:"max_attempts"`
	// ReferenceChecked is true when the request asked for reference_check
	// and the reference has one usable face.
	ReferenceChecked bool `json:"reference_checked,omitempty"`
}

// DeviceLiveness is the agent's own passive-liveness result for the selfie.
type DeviceLiveness struct {
	Score float64 `json:"score"` // probability live, 0–1
	Live  bool    `json:"live"`  // Score ≥ the device's threshold
	Model string  `json:"model"` // model file name, e.g. "fr_liveness.onnx"
}

// SubmissionRequest uploads one selfie attempt. The same IdempotencyKey
// (also accepted as the Idempotency-Key header) is counted once.
type SubmissionRequest struct {
	Selfie []byte `json:"selfie"` // JPEG bytes (base64 in JSON)
	// SelfieExtra holds up to MaxSelfieExtra more face crops of the same
	// capture round, taken at other moments (JPEG or PNG bytes, base64 in
	// JSON), each within the selfie's byte and pixel limits. The gateway
	// fuses the liveness of the selfie and the extras (mean of logits) and
	// runs its replay checks on every image. Omitted by agents that send
	// one image.
	SelfieExtra    [][]byte       `json:"selfie_extra,omitempty"`
	DeviceLiveness DeviceLiveness `json:"device_liveness"`
	DeviceID       string         `json:"device_id"`
	IdempotencyKey string         `json:"idempotency_key"`
	CapturedAt     time.Time      `json:"captured_at"`
}

// MaxSelfieExtra is the most images SubmissionRequest.SelfieExtra may
// hold; more is a 400 bad_request.
const MaxSelfieExtra = 2

// SubmissionResponse acknowledges a submission; processing is asynchronous.
type SubmissionResponse struct {
	SubmissionID string `json:"submission_id"`
	Attempt      int    `json:"attempt"` // 1-based
	Status       string `json:"status"`  // StatusProcessing; a Duplicate of a decided attempt: its StatusVerified or StatusRejected
	Duplicate    bool   `json:"duplicate,omitempty"`
}

// StatusResponse answers a device's status poll.
//
// Long poll: GET PathStatus?wait=<duration> (ParamWait) holds the request
// while the answer would be ActionStatus (the last attempt is still
// processing) and answers the moment it changes, or with ActionStatus and
// Waited when the wait ends without a change. Any other answer (RETRY, EXIT)
// comes at once. The duration is Go syntax ("20s", "1500ms"; "0s" or an
// absent parameter: answer at once); the gateway shortens it to its
// status.max_wait (25 s by default). A malformed or negative wait is a 400
// bad_request naming the parameter; a gateway whose waiting requests are at
// status.max_waiters answers 503 server_busy with Retry-After. A gateway
// that predates the parameter ignores it and answers at once without
// Waited: the device then polls again after RetryAfterMS.
type StatusResponse struct {
	CorrelationID string `json:"correlation_id"`
	Status        string `json:"status"`      // StatusPending, StatusProcessing, StatusVerified, StatusRejected or StatusExpired
	NextAction    string `json:"next_action"` // ActionStatus, ActionRetry or ActionExit
	RetryAfterMS  int    `json:"retry_after_ms,omitempty"`
	Reason        string `json:"reason,omitempty"`
	AttemptsLeft  int    `json:"attempts_left"`
	// Waited is true on an ActionStatus answer to a long poll that waited
	// its whole wait without a change: poll again at once (with wait).
	// False (absent) on ActionStatus means poll again after RetryAfterMS:
	// the gateway ignored wait, or is shutting down.
	Waited bool `json:"waited,omitempty"`
}

// ParamWait is the query parameter of a status long poll
// (GET PathStatus?wait=20s); see StatusResponse.
const ParamWait = "wait"

// Scores are the measurements behind a decision. Similarity is the cosine
// similarity of the L2-normalised embeddings (−1…1); liveness values are
// probabilities live (0–1).
type Scores struct {
	Similarity     *float64 `json:"similarity,omitempty"`
	Liveness       *float64 `json:"liveness,omitempty"`
	DeviceLiveness *float64 `json:"device_liveness,omitempty"`
}

// Thresholds are the decision thresholds in force, same units as Scores.
type Thresholds struct {
	Similarity float64 `json:"similarity"`
	Liveness   float64 `json:"liveness"`
}

// Attempt is one processed submission.
type Attempt struct {
	Attempt  int    `json:"attempt"`
	DeviceID string `json:"device_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
	// Detail says why in words when Reason alone does not, e.g. for
	// REFERENCE_UNAVAILABLE `address refused by rule loopback: host
	// "ref.partner.example" resolves to a loopback address` or `reference
	// image too large: …`. It names only what the partner configured or
	// served (hosts, sizes, statuses), never a resolved address.
	Detail      string     `json:"detail,omitempty"`
	Scores      Scores     `json:"scores"`
	SubmittedAt time.Time  `json:"submitted_at"`
	ProcessedAt *time.Time `json:"processed_at,omitempty"`
}

// SubmissionDetails is what the partner reads by correlation id.
type SubmissionDetails struct {
	CorrelationID     string     `json:"correlation_id"`
	PartnerUserID     string     `json:"partner_user_id"`
	PartnerUserIDType string     `json:"partner_user_id_type"`
	Flow              string     `json:"flow"`
	Status            string     `json:"status"`
	Reason            string     `json:"reason,omitempty"`
	Detail            string     `json:"detail,omitempty"` // the latest processed attempt's Attempt.Detail
	Scores            Scores     `json:"scores"`
	Thresholds        Thresholds `json:"thresholds"`
	Attempts          []Attempt  `json:"attempts"`
	CreatedAt         time.Time  `json:"created_at"`
	CompletedAt       *time.Time `json:"completed_at,omitempty"`
}

// Callback events (Callback.Event, EventHeader).
const (
	// EventFlowCompleted: the flow has a final decision, VERIFIED or
	// REJECTED.
	EventFlowCompleted = "flow.completed"
	// EventFlowExpired: the flow's user token expired without a final
	// decision; Status is StatusExpired.
	EventFlowExpired = "flow.expired"
)

// Callback is POSTed to the partner's callback URL when a flow becomes final,
// signed with the partner's own key (SignatureHeader). It carries no
// biometric data; the partner fetches SubmissionDetails.
//
// Delivery is at least once: a callback is retried until the partner
// answers 2xx (or the gateway gives up), and an operator may redeliver it,
// so the partner must de-duplicate by DeliveryID, which is the same on every
// delivery of one event.
type Callback struct {
	DeliveryID    string    `json:"delivery_id"` // "dlv_" + 24 hex; stable across retries and redeliveries
	Event         string    `json:"event"`       // EventFlowCompleted or EventFlowExpired
	PartnerID     string    `json:"partner_id"`  // the client_id this callback is for
	CorrelationID string    `json:"correlation_id"`
	PartnerUserID string    `json:"partner_user_id"`
	Status        string    `json:"status"` // StatusVerified, StatusRejected or StatusExpired
	Reason        string    `json:"reason,omitempty"`
	CompletedAt   time.Time `json:"completed_at"`
}

// UserErasure answers DELETE /v1/users/{partner_user_id}: what was erased
// of that user's records (the calling partner's only). A repeated request
// erases nothing and answers zeros.
type UserErasure struct {
	PartnerUserIDType string       `json:"partner_user_id_type"`
	Erased            ErasedCounts `json:"erased"`
}

// ErasedCounts counts erased rows: flows (their user tokens stop working),
// submissions (decisions and scores), callbacks (queued or delivered) and
// tokens.
type ErasedCounts struct {
	Flows       int64 `json:"flows"`
	Submissions int64 `json:"submissions"`
	Callbacks   int64 `json:"callbacks"`
	Tokens      int64 `json:"tokens"`
}

// ReferenceResponse is one of the two JSON answers of a partner's
// reference-image API (GET ?partner_user_id=…&partner_user_id_type=…&flow=…):
// either an ImageURL to fetch or the Image bytes themselves. A partner may
// also answer the raw image with Content-Type image/jpeg or image/png.
type ReferenceResponse struct {
	ImageURL string `json:"image_url,omitempty"`
	Image    []byte `json:"image,omitempty"`
}

// Error codes (Error.Code) with their HTTP status.
const (
	CodeBadRequest           = "bad_request"            // 400: malformed JSON or invalid field
	CodeInvalidImage         = "invalid_image"          // 400: selfie is not a JPEG/PNG
	CodeInvalidCredentials   = "invalid_credentials"    // 401: unknown client_id or wrong passkey
	CodeInvalidToken         = "invalid_token"          // 401: missing, unknown, expired or wrong-kind token
	CodeFlowNotAllowed       = "flow_not_allowed"       // 403: partner may not use this flow kind
	CodeNotFound             = "not_found"              // 404
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeCorrelationConflict  = "correlation_conflict"   // 409: correlation id used for another user
	CodeInProgress           = "submission_in_progress" // 409: an earlier attempt is still PROCESSING
	CodeFlowFinal            = "flow_final"             // 409: the flow already has a final decision
	CodeAttemptsExhausted    = "attempts_exhausted"     // 409: no attempts left (status ATTEMPTS_EXHAUSTED)
	CodeIdempotencyConflict  = "idempotency_conflict"   // 409: idempotency key reused with another selfie
	CodePayloadTooLarge      = "payload_too_large"      // 413: body or selfie over the limit
	CodeUnsupportedMediaType = "unsupported_media_type" // 415: body is not application/json
	CodeInternal             = "internal"               // 500
	CodeServerBusy           = "server_busy"            // 503: image decoding, passkey-check or status-wait capacity exhausted; retry after Retry-After
	// CodeReferenceUnusable (422): reference_check found no usable
	// reference: the partner's reference API refused it (e.g. 404), it is
	// not a JPEG/PNG, too large, or has no single usable face; the message
	// says which. The same reference would end the flow as
	// REFERENCE_UNAVAILABLE.
	CodeReferenceUnusable = "reference_unusable"
	// CodeReferenceUnavailable (502): reference_check could not reach the
	// partner's reference API (timeouts, 5xx after the retries); try again.
	CodeReferenceUnavailable = "reference_unavailable"
	// CodeIdempotencyKeyRequired (400): a signed submission without
	// idempotency_key in its (signed) body.
	CodeIdempotencyKeyRequired = "idempotency_key_required"
	// CodeSignatureReplayed (401): the device signature was already used
	// by another request (another flow or idempotency key).
	CodeSignatureReplayed = "signature_replayed"
)

// Error is the body of every non-2xx answer.
type Error struct {
	Code    string `json:"code"` // stable, e.g. "invalid_token", "bad_request"
	Message string `json:"message"`
	// RetryAfterS repeats the Retry-After header (seconds) of 429, 423 and
	// 503 answers.
	RetryAfterS int `json:"retry_after_s,omitempty"`
	// UnlockAt is when a user_locked partner user may verify again.
	UnlockAt *time.Time `json:"unlock_at,omitempty"`
}
