package uplink

import (
	"time"
)

// SubmitInfo is what a Submitter chain may need to know about a submission
// beyond the request body: the flow it belongs to (device signatures cover
// the correlation id) and how long its user token is good for (the offline
// spool keeps it no longer). The agent passes it to Submitter.Submit.
type SubmitInfo struct {
	// CorrelationID is the partner's correlation id of the flow the user
	// token belongs to.
	CorrelationID string
	// TokenExpires is when the user token expires (the gateway's
	// expires_at, handed to the kiosk with the token); zero when unknown.
	TokenExpires time.Time
	// OnQueued, if set, is called by a Submitter that stores the
	// submission for later delivery (the offline spool), with its
	// idempotency key, after it is stored and before it can be delivered:
	// the outcome of that delivery may be reported before Submit returns,
	// so whoever routes outcomes by key registers it here. It must not
	// block; nil: not called.
	OnQueued func(key string)
}
