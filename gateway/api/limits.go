package api

// Brute-force controls of the gateway: token-bucket rate limits (429) and
// the lockout of a partner user after repeated failed verifications (423).
// Both answers carry Retry-After (seconds) and Error.RetryAfterS; a lockout
// also Error.UnlockAt. Too many passkey checks at once are CodeServerBusy
// (503).
const (
	CodeRateLimited = "rate_limited" // 429: too many requests from this client, source, flow or device
	CodeUserLocked  = "user_locked"  // 423: too many failed verifications of this partner user
)

// ReasonUserLocked: the partner user reached the failed-verification limit
// while this attempt waited to be processed; the attempt was not analysed
// and the flow is final (REJECTED). It does not count as a failure itself.
const ReasonUserLocked = "USER_LOCKED"
