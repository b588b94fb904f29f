package gateway

import "time"

// StatusConfig bounds the status long-poll (GET /v1/status?wait=…):
// [status] in facegateway.toml.
type StatusConfig struct {
	// MaxWait is the longest a status request may wait for its flow to
	// change; a larger ?wait is shortened to it (answers carry no hint of
	// the shortening beyond their timing). Default 25s: under the 30 s idle
	// timeout common to proxies and load balancers in front of the gateway.
	MaxWait time.Duration `toml:"max_wait"`
	// MaxWaiters is how many status requests of this replica may wait at
	// once; one more is refused with 503 server_busy and Retry-After.
	MaxWaiters int `toml:"max_waiters"`
	// Recheck is how often a waiting request re-reads its flow from the
	// database, to see decisions recorded by another replica (decisions of
	// this replica wake it at once). Each re-check is two indexed reads.
	Recheck time.Duration `toml:"recheck"`
}

// Defaults of [status].
const (
	DefaultStatusMaxWait    = 25 * time.Second
	DefaultStatusMaxWaiters = 1024
	DefaultStatusRecheck    = 250 * time.Millisecond
)

func defaultStatusConfig() StatusConfig {
	return StatusConfig{MaxWait: DefaultStatusMaxWait, MaxWaiters: DefaultStatusMaxWaiters, Recheck: DefaultStatusRecheck}
}

// validate checks [status].
func (s StatusConfig) validate() error {
	switch {
	case s.MaxWait < 0 || s.MaxWait > 5*time.Minute:
		return errField("status.max_wait", "must be in [0s, 5m] (0s: status requests never wait), got %v", s.MaxWait)
	case s.MaxWaiters < 1 || s.MaxWaiters > 1_000_000:
		return errField("status.max_waiters", "must be in [1, 1000000], got %d", s.MaxWaiters)
	case s.Recheck < 10*time.Millisecond || s.Recheck > time.Minute:
		return errField("status.recheck", "must be in [10ms, 1m], got %v", s.Recheck)
	}
	return nil
}
