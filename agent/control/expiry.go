package control

import "time"

// CheckExpiry refuses a launch whose user token has already expired: an
// expires_at (TokenExpires) at or before now, the agent's clock, is a
// bad_request *RequestError naming expires_at, so no camera opens for a
// capture the gateway would refuse. A request without expires_at (zero
// TokenExpires) passes: the token's expiry is then learnt from the
// gateway's answers.
func (r LaunchRequest) CheckExpiry(now time.Time) error {
	if r.TokenExpires.IsZero() || r.TokenExpires.After(now) {
		return nil
	}
	return BadField("expires_at", "is in the past (%s, agent clock %s): the token has expired; initiate a new flow",
		r.TokenExpires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
}
