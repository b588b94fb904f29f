package gatewaytest

import (
	"sync"

	"github.com/faceverify/faceverify/gateway"
)

var passkeyHashes sync.Map // passkey → PHC string

// PasskeyHash returns an argon2id hash of passkey (gateway.HashPasskey),
// computed once per process for each passkey: tests configure partners
// with it without paying ~40 ms per configuration.
func PasskeyHash(passkey string) string {
	if h, ok := passkeyHashes.Load(passkey); ok {
		return h.(string)
	}
	h, _ := passkeyHashes.LoadOrStore(passkey, gateway.HashPasskey(passkey))
	return h.(string)
}

// NoRateLimits raises every limit of c far above what a test sends, for
// tests about something else (the limits have their own tests).
func NoRateLimits(c *gateway.RateConfig) {
	for _, l := range []*gateway.RateLimit{&c.TokenClient, &c.TokenSource, &c.EnrollSource, &c.SubmitFlow, &c.SubmitDevice, &c.InitiateClient} {
		*l = gateway.RateLimit{PerMinute: 1e6, Burst: 1e6}
	}
}
