package gateway

import (
	"strings"
	"testing"
	"time"
)

func TestStatusConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*StatusConfig)
		want   string // prefix of the error; "" valid
	}{
		{"defaults", func(*StatusConfig) {}, ""},
		{"no waiting", func(s *StatusConfig) { s.MaxWait = 0 }, ""},
		{"negative wait", func(s *StatusConfig) { s.MaxWait = -time.Second }, "status.max_wait:"},
		{"wait over 5m", func(s *StatusConfig) { s.MaxWait = 6 * time.Minute }, "status.max_wait:"},
		{"no waiters", func(s *StatusConfig) { s.MaxWaiters = 0 }, "status.max_waiters:"},
		{"recheck too often", func(s *StatusConfig) { s.Recheck = time.Millisecond }, "status.recheck:"},
		{"recheck too rare", func(s *StatusConfig) { s.Recheck = 2 * time.Minute }, "status.recheck:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c.Status)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("error %v, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestStatusConfigDecode(t *testing.T) {
	c, err := DecodeConfig(strings.NewReader("[status]\nmax_wait = \"10s\"\nmax_waiters = 8\nrecheck = \"1s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != (StatusConfig{MaxWait: 10 * time.Second, MaxWaiters: 8, Recheck: time.Second}) {
		t.Errorf("decoded %+v", c.Status)
	}
}
