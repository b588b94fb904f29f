package gateway

import (
	"context"
	"errors"
	"time"
)

// Store errors; callers test them with errors.Is.
var (
	// ErrNotFound: no such token, flow, submission or due job (an expired
	// token is reported as not found).
	ErrNotFound = errors.New("not found")
	// ErrCorrelationConflict: the partner already used the correlation id
	// for a different user, user id type or flow kind.
	ErrCorrelationConflict = errors.New("correlation id already used for another user")
	// ErrFlowFinal: the flow already has a final decision.
	ErrFlowFinal = errors.New("flow is final")
	// ErrAttemptsExhausted: the flow has used all of its attempts.
	ErrAttemptsExhausted = errors.New("attempts exhausted")
	// ErrInProgress: an earlier attempt of the flow is still being processed.
	ErrInProgress = errors.New("an earlier attempt is still processing")
	// ErrIdempotencyConflict: the idempotency key was used before with a
	// different selfie.
	ErrIdempotencyConflict = errors.New("idempotency key reused with a different request")
	// ErrLeaseLost: the worker's claim on a submission or callback expired
	// and was taken over; its result is discarded.
	ErrLeaseLost = errors.New("lease lost")
	// ErrCallbackPurged: the callback's body was emptied by the retention
	// purge (it named the user), so it cannot be delivered again.
	ErrCallbackPurged = errors.New("callback body purged by retention")
)

// TokenKind tells partner tokens from user tokens.
type TokenKind string

// Token kinds.
const (
	TokenPartner TokenKind = "partner" // from POST /v1/token, for partner endpoints
	TokenUser    TokenKind = "user"    // from POST /v1/flows, for device endpoints
)

// Token is a stored bearer token. Only the SHA-256 of the token string is
// kept; the token itself is shown once to its holder.
type Token struct {
	Hash      [32]byte
	Kind      TokenKind
	PartnerID string // the partner's client_id
	FlowID    string // user tokens only
	ExpiresAt time.Time
}

// Flow is one verification of one partner user, keyed by the partner's
// correlation id.
type Flow struct {
	ID                string
	PartnerID         string // client_id
	CorrelationID     string
	PartnerUserID     string
	PartnerUserIDType string
	Kind              string // api.FlowSelfie or api.FlowKTP
	// Status is "" while the flow is open, api.StatusVerified,
	// api.StatusRejected or api.StatusExpired once final.
	Status      string
	Reason      string // api.Reason* of a final rejection
	CreatedAt   time.Time
	CompletedAt time.Time // zero while open
	// ExpiresAt is the expiry of the flow's latest user token (PutToken
	// extends it); an open flow past it is closed as api.StatusExpired.
	// Zero until a user token is issued.
	ExpiresAt time.Time
}

// Final reports whether the flow has a final decision.
func (f Flow) Final() bool { return f.Status != "" }

// SubmissionState is the processing state of a submission row.
type SubmissionState string

// Submission states.
const (
	StatePending    SubmissionState = "pending"    // waiting for a worker
	StateProcessing SubmissionState = "processing" // claimed under a lease
	StateDone       SubmissionState = "done"       // decided; selfie deleted
)

// Submission is one selfie attempt of a flow and, once processed, its
// outcome. Scores are nil when not measured.
type Submission struct {
	ID             string
	FlowID         string
	Attempt        int    // 1-based within the flow
	IdempotencyKey string // "" when the device sent none
	// Fingerprint is the SHA-256 of the selfie bytes; a repeated
	// idempotency key with another fingerprint is ErrIdempotencyConflict.
	Fingerprint    []byte
	DeviceID       string
	DeviceLiveness *float64 // the agent's probability live, 0–1
	DeviceLive     bool
	DeviceModel    string
	CapturedAt     time.Time
	// Selfie holds the encoded image, sealed by SelfieKeys (AES-256-GCM
	// under an epoch key kept outside the database), until the submission
	// is processed; it is nil afterwards and in listings.
	Selfie []byte

	State  SubmissionState
	Status string // api.StatusProcessing until done, then VERIFIED or REJECTED
	Reason string
	// Detail says in words why, when Reason alone does not (e.g. which
	// rule refused the reference host); partner-safe, "" when none.
	Detail string

	Similarity        *float64 // cosine, −1…1
	Liveness          *float64 // server probability live, 0–1
	LivenessThreshold float64
	MatchThreshold    float64

	SubmittedAt time.Time
	ProcessedAt time.Time // zero until done
	// LeaseOwner identifies the current claim (set by ClaimSubmission);
	// ReleaseSubmission and CompleteSubmission must present it.
	LeaseOwner string
	// Claims counts how many times a worker claimed the row; a row that
	// keeps failing (e.g. it crashes the process) is given up after
	// Config.Processing.MaxClaims.
	Claims int
}

// Result is a worker's outcome for a claimed submission. When Final is set
// the flow is closed with FlowStatus/FlowReason and Callback is queued for
// delivery, in the same transaction.
type Result struct {
	SubmissionID      string
	Owner             string // Submission.LeaseOwner of the claim
	Status            string // api.StatusVerified or api.StatusRejected
	Reason            string
	Detail            string // Submission.Detail
	Similarity        *float64
	Liveness          *float64
	LivenessThreshold float64
	MatchThreshold    float64
	ProcessedAt       time.Time

	Final      bool
	FlowStatus string
	FlowReason string
	// Callback is the JSON api.Callback body queued for the partner; nil
	// when the partner has no callback URL. It is queued only when this
	// result closes the flow (not when the flow was closed already, e.g.
	// expired), with CallbackDeliveryID (the body's delivery_id; the store
	// assigns NewDeliveryID() when empty) and CallbackEvent.
	Callback           []byte
	CallbackDeliveryID string
	CallbackEvent      string
}

// NewCallback is a callback to queue with a flow's closing.
type NewCallback struct {
	DeliveryID string // api.Callback.DeliveryID; NewDeliveryID() when empty
	Event      string // api.EventFlowCompleted or api.EventFlowExpired
	Body       []byte // JSON api.Callback
}

// Callback states (CallbackRecord.State).
const (
	CallbackPending   = "pending"   // due at NextAt (or being delivered under a lease)
	CallbackDelivered = "delivered" // the partner answered 2xx
	CallbackFailed    = "failed"    // given up after Config.Callback.MaxAttempts
)

// Audit actions of the callback operator commands (AuditEntry.Action).
const (
	AuditCallbackRedeliver = "callback.redeliver"  // facegateway callbacks redeliver (subject: delivery id)
	AuditCallbackUsers     = "callback.list_users" // facegateway callbacks list -show-user showed partner user ids
)

// CallbackRecord is a row of the callback outbox, for operators
// (`facegateway callbacks list`).
type CallbackRecord struct {
	ID           int64
	DeliveryID   string
	FlowID       string
	PartnerID    string
	Event        string
	State        string // CallbackPending, CallbackDelivered or CallbackFailed
	Attempts     int    // deliveries tried since queued or last redelivered
	Redeliveries int    // times an operator re-queued it
	LastError    string // of the latest failed delivery; "" once delivered
	CreatedAt    time.Time
	NextAt       time.Time // due (or lease end) while pending
	DeliveredAt  time.Time // zero until delivered
	Body         []byte    // JSON api.Callback (holds the partner user id)
}

// CallbackFilter selects callbacks to list; zero fields match all.
type CallbackFilter struct {
	PartnerID string
	State     string
	Limit     int // at most this many, newest first; ≤ 0 means 100
}

// CallbackJob is a queued completion callback.
type CallbackJob struct {
	ID         int64
	DeliveryID string // the body's delivery_id, the same on every delivery
	Event      string // api.EventFlowCompleted or api.EventFlowExpired
	FlowID     string
	PartnerID  string
	Body       []byte // JSON api.Callback, signed at delivery
	Attempts   int    // deliveries tried so far
	CreatedAt  time.Time
}

// Store persists tokens, flows, submissions and the callback outbox. The
// embedded default is gateway/sqlitestore; a server database backend
// implements the same methods (claims use a lease timestamp so several
// gateway replicas can share one database).
//
// Times are stored with at least millisecond precision. Methods that change
// several rows do so in one transaction.
type Store interface {
	// PutToken stores a token (by hash). A user token also extends its
	// flow's ExpiresAt to t.ExpiresAt when later, in the same transaction.
	PutToken(ctx context.Context, t Token) error
	// LookupToken returns the token with this hash if it has not expired at
	// now; ErrNotFound otherwise.
	LookupToken(ctx context.Context, hash [32]byte, now time.Time) (Token, error)
	// DeleteExpiredTokens removes tokens expired before now and returns how
	// many were removed.
	DeleteExpiredTokens(ctx context.Context, now time.Time) (int64, error)

	// CreateFlow stores f, or returns the flow the partner already opened
	// with f.CorrelationID when it names the same user, user id type and
	// kind (created=false). A different user is ErrCorrelationConflict.
	CreateFlow(ctx context.Context, f Flow) (stored Flow, created bool, err error)
	// FlowByID returns a flow or ErrNotFound.
	FlowByID(ctx context.Context, id string) (Flow, error)
	// FlowByCorrelation returns the partner's flow with that correlation id
	// or ErrNotFound.
	FlowByCorrelation(ctx context.Context, partnerID, correlationID string) (Flow, error)

	// CreateSubmission adds s as the flow's next attempt (s.Attempt is
	// assigned) in state pending, atomically with these checks, in order:
	// a submission with the same non-empty idempotency key is returned with
	// duplicate=true (ErrIdempotencyConflict if its fingerprint differs);
	// maxAttempts already used is ErrAttemptsExhausted; a final flow is
	// ErrFlowFinal; a pending or processing attempt is ErrInProgress.
	CreateSubmission(ctx context.Context, s Submission, maxAttempts int) (stored Submission, duplicate bool, err error)
	// Submissions lists a flow's attempts in attempt order, without selfie
	// bytes.
	Submissions(ctx context.Context, flowID string) ([]Submission, error)
	// ClaimSubmission takes the oldest pending submission that is due, or a
	// processing one whose lease ended at or before now, leases it to owner
	// (which must be unique per claim) until leaseUntil, increments Claims
	// and returns it with the selfie bytes.
	// ErrNotFound when nothing is due.
	ClaimSubmission(ctx context.Context, owner string, now, leaseUntil time.Time) (Submission, error)
	// ReleaseSubmission hands a claimed submission back, due again at
	// retryAt (a transient failure). ErrLeaseLost if owner no longer holds it.
	ReleaseSubmission(ctx context.Context, id, owner string, retryAt time.Time) error
	// CompleteSubmission records r, deletes the selfie bytes and, when
	// r.Final, closes the flow and, if that closed it (it was still open),
	// queues r.Callback. ErrLeaseLost if r.Owner no longer holds the claim.
	CompleteSubmission(ctx context.Context, r Result) error

	// FlowsToExpire returns up to limit open flows whose ExpiresAt is set
	// and at or before now and that have no submission pending or
	// processing, earliest ExpiresAt first.
	FlowsToExpire(ctx context.Context, now time.Time, limit int) ([]Flow, error)
	// ExpireFlow closes flow id as api.StatusExpired (completed at now) and
	// queues cb (nil: no callback) in one transaction, only if the flow is
	// still open, its ExpiresAt is at or before now and no submission of it
	// is pending or processing. It reports whether it closed the flow:
	// false when a decision, another replica's expiry or a new submission
	// got there first. ErrNotFound for an unknown flow.
	ExpireFlow(ctx context.Context, id string, now time.Time, cb *NewCallback) (bool, error)

	// ClaimCallback takes the oldest callback due at now and leases it until
	// leaseUntil (it is due again then if the worker dies). ErrNotFound when
	// nothing is due.
	ClaimCallback(ctx context.Context, now, leaseUntil time.Time) (CallbackJob, error)
	// CallbackDelivered marks a callback delivered and clears its
	// last error.
	CallbackDelivered(ctx context.Context, id int64, at time.Time) error
	// CallbackFailed records a failed delivery: due again at nextAt, or
	// given up (kept for inspection) when giveUp.
	CallbackFailed(ctx context.Context, id int64, nextAt time.Time, lastErr string, giveUp bool) error
	// Callbacks lists outbox rows matching f, newest first.
	Callbacks(ctx context.Context, f CallbackFilter) ([]CallbackRecord, error)
	// RedeliverCallback re-queues the callback with this delivery id,
	// whatever its state: pending, due at `at`, attempts reset to 0,
	// DeliveredAt cleared, Redeliveries incremented; body, delivery id and
	// last error unchanged. It returns
	// the updated row; ErrNotFound when no callback has that delivery id,
	// ErrCallbackPurged when its body was emptied by the retention purge.
	RedeliverCallback(ctx context.Context, deliveryID string, at time.Time) (CallbackRecord, error)

	// FailedAttempts returns when the user's attempts (in any of the
	// user's flows) were decided with one of reasons at or after since:
	// their processed times, newest first, at most limit of them.
	FailedAttempts(ctx context.Context, user UserKey, reasons []string, since time.Time, limit int) ([]time.Time, error)
	// HoldUserLock records that the user named by ref (lockoutRef: a
	// keyed hash, never the id) stays locked until until, so the lockout
	// outlives an erasure of the user's flows; a second call keeps the
	// later time.
	HoldUserLock(ctx context.Context, ref []byte, until time.Time) error
	// UserLockUntil returns the held lock of ref if it ends after now, or
	// the zero time.
	UserLockUntil(ctx context.Context, ref []byte, now time.Time) (time.Time, error)
	// PurgeUserLocks deletes the held locks that ended at or before now
	// and returns how many.
	PurgeUserLocks(ctx context.Context, now time.Time) (int64, error)

	// PrivacyStore: user erasure, retention purge, audit log (privacy_store.go).
	PrivacyStore

	// Close releases the database.
	Close() error
}

// NewDeliveryID returns a fresh callback delivery id: "dlv_" and 24 hex
// digits (96 random bits).
func NewDeliveryID() string { return newID("dlv_") }
