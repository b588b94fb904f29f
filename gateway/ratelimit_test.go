package gateway

import (
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// TestKeyedLimiter drives one bucket with explicit times: the burst is
// taken at once, the next request waits 60/per_minute seconds, refused
// requests take nothing, and the bucket refills with time.
func TestKeyedLimiter(t *testing.T) {
	type step struct {
		at   time.Duration // after t0
		key  string
		ok   bool
		wait time.Duration // when refused
	}
	tests := []struct {
		name  string
		limit RateLimit
		steps []step
	}{
		{"burst then one per 6 s", RateLimit{PerMinute: 10, Burst: 3}, []step{
			{0, "a", true, 0}, {0, "a", true, 0}, {0, "a", true, 0},
			{0, "a", false, 6 * time.Second},
			{time.Second, "a", false, 5 * time.Second}, // a refusal took nothing
			{0, "b", true, 0},                          // other keys have their own bucket
			{6 * time.Second, "a", true, 0},
			{6 * time.Second, "a", false, 6 * time.Second},
			{60 * time.Second, "a", true, 0}, {60 * time.Second, "a", true, 0}, {60 * time.Second, "a", true, 0},
			{60 * time.Second, "a", false, 6 * time.Second}, // refilled to the burst, not beyond
		}},
		{"burst of one", RateLimit{PerMinute: 1, Burst: 1}, []step{
			{0, "x", true, 0}, {0, "x", false, time.Minute}, {59 * time.Second, "x", false, time.Second}, {time.Minute, "x", true, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKeyedLimiter("test", tt.limit, 100)
			for i, s := range tt.steps {
				ok, wait := k.allow(s.key, t0.Add(s.at))
				if ok != s.ok || (!ok && (wait < s.wait-time.Millisecond || wait > s.wait+time.Millisecond)) {
					t.Errorf("step %d (%v, %s): allow = %v, wait %v; want %v, wait %v", i, s.at, s.key, ok, wait, s.ok, s.wait)
				}
			}
		})
	}
}

// TestKeyedLimiterBounded: a flood of distinct keys keeps at most max_keys
// buckets, the busiest (most recent) key survives it, and the sweep drops
// the buckets that have refilled.
func TestKeyedLimiterBounded(t *testing.T) {
	const maxKeys = 1000
	k := newKeyedLimiter("test", RateLimit{PerMinute: 6, Burst: 2}, maxKeys)
	k.allow("attacker", t0)
	k.allow("attacker", t0)
	for i := range 200_000 {
		k.allow(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), t0)
		if i%500 == 0 {
			if ok, _ := k.allow("attacker", t0); ok {
				t.Fatalf("attacker allowed after %d other keys: its bucket was evicted", i)
			}
		}
	}
	if n := k.len(); n != maxKeys {
		t.Errorf("%d buckets after 200000 keys, want the bound %d", n, maxKeys)
	}
	// 10 s later the flood's buckets (one token taken, 6/min) are full
	// again, the attacker's (emptied) is not.
	if n := k.sweep(t0.Add(10 * time.Second)); n != 1 {
		t.Errorf("%d buckets after the sweep, want 1 (the attacker's)", n)
	}
	if n := k.sweep(t0.Add(time.Minute)); n != 0 {
		t.Errorf("%d buckets after the attacker's refilled, want 0", n)
	}
}

// BenchmarkKeyedLimiterMemory reports the heap held per bucket.
func BenchmarkKeyedLimiterMemory(b *testing.B) {
	const keys = 100_000
	var before, after runtime.MemStats
	for range b.N {
		runtime.GC()
		runtime.ReadMemStats(&before)
		k := newKeyedLimiter("bench", RateLimit{PerMinute: 10, Burst: 10}, keys)
		for i := range keys {
			k.allow(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), t0)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/keys, "bytes/bucket")
		runtime.KeepAlive(k)
	}
}

// TestSourceAddress: the TCP peer, or the right-most untrusted
// X-Forwarded-For hop behind trusted proxies; IPv6 per /64.
func TestSourceAddress(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		peer    string
		xff     []string
		want    string
	}{
		{"peer", nil, "203.0.113.7:5555", nil, "203.0.113.7"},
		{"forwarded-for ignored from an untrusted peer", nil, "203.0.113.7:5555", []string{"198.51.100.1"}, "203.0.113.7"},
		{"trusted proxy", []string{"10.0.0.0/8"}, "10.1.2.3:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-supplied hops left of the proxy's are ignored", []string{"10.0.0.0/8"}, "10.1.2.3:443", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", []string{"10.0.0.0/8", "192.0.2.9"}, "10.1.2.3:443", []string{"198.51.100.1, 192.0.2.9", "10.9.9.9"}, "198.51.100.1"},
		{"all hops trusted", []string{"10.0.0.0/8"}, "10.1.2.3:443", []string{"10.0.0.1"}, "10.0.0.1"},
		{"garbage hop stops at the proxy", []string{"10.0.0.0/8"}, "10.1.2.3:443", []string{"198.51.100.1, not-an-ip"}, "10.1.2.3"},
		{"hop with port", []string{"10.0.0.0/8"}, "10.1.2.3:443", []string{"198.51.100.1:1234"}, "198.51.100.1"},
		{"ipv6 per /64", nil, "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", nil, "2001:db8:1:2::/64"},
		{"ipv6 hop per /64", []string{"::1"}, "[::1]:443", []string{"[2001:db8:1:2::5]:80"}, "2001:db8:1:2::/64"},
		{"mapped ipv4", nil, "[::ffff:192.0.2.1]:80", nil, "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultRateConfig()
			c.TrustedProxies = tt.trusted
			l, err := newLimiters(c, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			r, _ := http.NewRequest("POST", "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := l.source(r); got != tt.want {
				t.Errorf("source = %q, want %q", got, tt.want)
			}
		})
	}
}
