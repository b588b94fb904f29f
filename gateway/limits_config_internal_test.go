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

// TestMaxChecksConfig: reference.max_checks is 1–256, named when wrong.
func TestMaxChecksConfig(t *testing.T) {
	if got := DefaultConfig().Reference.MaxChecks; got != 16 {
		t.Errorf("default reference.max_checks = %d, want 16", got)
	}
	for _, v := range []int{0, -1, 257} {
		c := validConfig()
		c.Reference.MaxChecks = v
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "reference.max_checks:") {
			t.Errorf("max_checks = %d: Validate() = %v, want an error naming reference.max_checks", v, err)
		}
	}
	c := validConfig()
	c.Reference.MaxChecks = 256
	if err := c.Validate(); err != nil {
		t.Errorf("max_checks = 256: %v", err)
	}
}
