// Package uplink is how the agent talks to the outside world: the
// verification gateway (Gateway, implemented over HTTP in uplink/gateway;
// uplink/spool wraps a Submitter to store and forward on temporary
// errors) and fleet monitoring (Publisher, implemented over MQTT in
// uplink/mqtt, whose wire contract is gateway/mqttapi). Fakes for tests
// live in uplink/uplinktest.
package uplink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/mqttapi"
)

// Submitter uploads one selfie attempt. Submit sends req to
// baseURL+api.PathSubmissions with "Authorization: Bearer <token>"; info
// says which flow it belongs to and how long the token is good for. The
// request's IdempotencyKey identifies the attempt: resending the same key
// (after a timeout, say) is counted once by the gateway.
type Submitter interface {
	Submit(ctx context.Context, baseURL, token string, req api.SubmissionRequest, info SubmitInfo) (api.SubmissionResponse, error)
}

// StatusPoller reads the status of the verification bound to token from
// baseURL+api.PathStatus.
type StatusPoller interface {
	Status(ctx context.Context, baseURL, token string) (api.StatusResponse, error)
}

// StatusWaiter is a StatusPoller that can long-poll: StatusWait asks the
// gateway to hold the request up to wait while the verification is still
// processing, and to answer the moment its status changes
// (GET api.PathStatus?wait=…; see api.StatusResponse). The request's own
// timeout is longer than wait. A gateway without long polls answers at
// once, with StatusResponse.Waited false. A Gateway may implement it; the
// agent falls back to Status without it.
type StatusWaiter interface {
	StatusWait(ctx context.Context, baseURL, token string, wait time.Duration) (api.StatusResponse, error)
}

// Warmer opens a connection to the gateway ahead of a session's first
// request (a cheap unauthenticated GET /healthz at baseURL), so the upload
// finds it open in the client's pool instead of paying the TCP and TLS
// handshakes after the capture. Any HTTP answer warms the connection; the
// error is a network failure or timeout. A Gateway may implement it; the
// agent warms nothing without it.
type Warmer interface {
	Warm(ctx context.Context, baseURL string) error
}

// Gateway is the device side of the gateway API.
//
// Errors: ErrTokenExpired and ErrUnauthorized (errors.Is) when the gateway
// refuses the token; otherwise an *Error whose Temporary field tells whether
// retrying the same request may succeed (network errors, timeouts, 429 and
// 5xx are temporary; other 4xx are permanent).
type Gateway interface {
	Submitter
	StatusPoller
}

// Sentinel errors of Gateway calls; test with errors.Is.
var (
	// ErrUnauthorized: 401, the token is unknown, malformed or revoked;
	// or 401/403 refusing the device signature (Error.Code tells which:
	// signature_required, bad_signature, clock_skew, unknown_device,
	// revoked_device).
	ErrUnauthorized = errors.New("gateway refused the token")
	// ErrTokenExpired: 410, or 401 with error code "token_expired".
	ErrTokenExpired = errors.New("token expired")
	// ErrConflict: 409, the flow no longer accepts submissions (already
	// final or attempts used up); its status tells the outcome.
	ErrConflict = errors.New("gateway conflict")
)

// Error is a failed Gateway call.
type Error struct {
	Op         string // "submit" or "status"
	StatusCode int    // HTTP status; 0 for network errors
	Code       string // api.Error.Code from the body, if any
	Message    string // api.Error.Message from the body, if any
	Temporary  bool   // retrying the same request may succeed
	// RetryAfter is the server's Retry-After hint (429/503); 0 if none.
	RetryAfter time.Duration
	Err        error // underlying cause; one of the sentinels for 401/409/410
}

func (e *Error) Error() string {
	switch {
	case e.StatusCode == 0:
		return fmt.Sprintf("gateway %s: %v", e.Op, e.Err)
	case e.Code != "":
		return fmt.Sprintf("gateway %s: HTTP %d %s: %s", e.Op, e.StatusCode, e.Code, e.Message)
	default:
		return fmt.Sprintf("gateway %s: HTTP %d", e.Op, e.StatusCode)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// Class is the coarse kind of a Gateway error, as the session needs it.
type Class int

// Classes returned by Classify.
const (
	ClassNone         Class = iota // no error
	ClassTemporary                 // retry later
	ClassPermanent                 // retrying the same request will fail again
	ClassUnauthorized              // ErrUnauthorized
	ClassExpired                   // ErrTokenExpired
	ClassConflict                  // ErrConflict
	ClassCanceled                  // the caller's context ended
)

// Classify maps err to its Class. Errors not made by a Gateway are
// temporary when they are network errors (a net.Error, matched by its
// methods so this package links no socket code) or timeouts, permanent
// otherwise.
func Classify(err error) Class {
	var ne netError
	var e *Error
	switch {
	case err == nil:
		return ClassNone
	case errors.Is(err, ErrTokenExpired):
		return ClassExpired
	case errors.Is(err, ErrUnauthorized):
		return ClassUnauthorized
	case errors.Is(err, ErrConflict):
		return ClassConflict
	case errors.Is(err, context.Canceled):
		return ClassCanceled
	case errors.As(err, &e):
		if e.Temporary {
			return ClassTemporary
		}
		return ClassPermanent
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne):
		return ClassTemporary
	}
	return ClassPermanent
}

// netError is the method set of net.Error.
type netError interface {
	error
	Timeout() bool
	Temporary() bool
}

// ErrorCode returns the gateway's error code (api.Error.Code, e.g.
// "flow_final", "unknown_device") carried by the *Error in err's chain, or
// "" when there is none (network errors, errors not made by a Gateway).
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Event is one progress report of a verification session for fleet
// monitoring (mqttapi.Event: states and reasons only, never images,
// embeddings, scores or tokens).
type Event = mqttapi.Event

// Publisher reports Events. Publish never blocks: implementations queue
// (bounded) and drop the oldest event when the queue is full, counting the
// drop. A Publisher stamps DeviceID and Seq.
type Publisher interface {
	Publish(ev Event)
}

// Discard is a Publisher that drops every event (the MQTT-less mode).
type Discard struct{}

// Publish drops ev.
func (Discard) Publish(Event) {}
