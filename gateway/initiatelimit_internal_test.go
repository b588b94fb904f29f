package gateway

import (
	"strings"
	"testing"
)

// TestInitiateClientLimitConfig: limits.rate.initiate_client is validated
// like the other buckets, naming the field, and defaults to a rate a busy
// partner does not reach.
func TestInitiateClientLimitConfig(t *testing.T) {
	d := DefaultConfig().Limits.Rate.InitiateClient
	if d.PerMinute < 600 || d.Burst < 100 {
		t.Errorf("default initiate_client %+v: below a busy partner's 10 flows/s with bursts of 100", d)
	}
	for _, tc := range []struct {
		name  string
		limit RateLimit
		want  string
	}{
		{"zero rate", RateLimit{PerMinute: 0, Burst: 10}, "limits.rate.initiate_client.per_minute: must be > 0"},
		{"negative rate", RateLimit{PerMinute: -1, Burst: 10}, "limits.rate.initiate_client.per_minute: must be > 0"},
		{"zero burst", RateLimit{PerMinute: 60, Burst: 0}, "limits.rate.initiate_client.burst: must be in [1,1000000]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			c.Limits.Rate.InitiateClient = tc.limit
			if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want prefix %q", err, tc.want)
			}
		})
	}
	c, err := DecodeConfig(strings.NewReader("[limits.rate]\ninitiate_client = { per_minute = 120, burst = 40 }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Limits.Rate.InitiateClient; got != (RateLimit{PerMinute: 120, Burst: 40}) {
		t.Errorf("decoded initiate_client %+v, want {120 40}", got)
	}
}
