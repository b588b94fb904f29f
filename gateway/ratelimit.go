package gateway

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/faceverify/faceverify/gateway/api"
)

// RateLimit is one token bucket: Burst requests at once, refilled at
// PerMinute requests per minute.
type RateLimit struct {
	PerMinute float64 `toml:"per_minute"`
	Burst     int     `toml:"burst"`
}

// RateConfig is the [limits.rate] table: token-bucket limits on the
// endpoints an attacker can hammer, answered 429 rate_limited with
// Retry-After. The buckets live in each replica's memory (a client spread
// over N replicas gets N times the rate); the user lockout
// ([limits.lockout]) is the control every replica shares.
type RateConfig struct {
	// TokenClient limits POST /v1/token per client_id (all unknown client
	// ids share one bucket), checked before the passkey is hashed: a
	// guessing attack is slowed whatever its sources, and the right passkey
	// is refused too while the bucket is empty (partner tokens already
	// issued keep working for tokens.partner_ttl).
	TokenClient RateLimit `toml:"token_client"`
	// TokenSource limits POST /v1/token per source address.
	TokenSource RateLimit `toml:"token_source"`
	// EnrollSource limits POST /v1/devices per source address, before the
	// enrollment token is compared.
	EnrollSource RateLimit `toml:"enroll_source"`
	// SubmitFlow limits POST /v1/submissions per flow (user token), before
	// the body is read.
	SubmitFlow RateLimit `toml:"submit_flow"`
	// SubmitDevice limits POST /v1/submissions per device, after the
	// device signature verified (per claimed device_id when unsigned
	// submissions are accepted).
	SubmitDevice RateLimit `toml:"submit_device"`
	// InitiateClient limits POST /v1/flows per partner (the partner
	// token's client_id), checked right after the token and before the
	// body is read: each initiation stores a flow and a user token and,
	// with reference_check or the prefetch, calls the partner's reference
	// API, so a leaked partner token cannot turn the gateway into a load
	// generator against the database or the partner.
	InitiateClient RateLimit `toml:"initiate_client"`
	// MaxKeys bounds the buckets each limit keeps (least recently used
	// evicted first; full buckets are dropped every 5 minutes), so a flood
	// of distinct addresses cannot grow memory without bound: about 210
	// bytes per bucket (BenchmarkKeyedLimiterMemory), so ~10 MB per limit
	// at the default 50000.
	MaxKeys int `toml:"max_keys"`
	// TrustedProxies lists the addresses or CIDR prefixes of reverse
	// proxies whose X-Forwarded-For is believed. The source address is the
	// TCP peer, or, when the peer is trusted, the right-most
	// X-Forwarded-For entry that is not. Default none. IPv6 sources are
	// limited per /64.
	TrustedProxies []string `toml:"trusted_proxies"`
	// PasskeyChecks caps concurrent argon2id passkey verifications (each
	// holds the hash's memory, 19 MiB with the default parameters); a token
	// request that finds no slot within 10 s is answered 503 server_busy.
	PasskeyChecks int `toml:"passkey_checks"`
}

// defaultRateConfig: a partner backend caches its token for an hour, an
// installer enrolls a kiosk once, and a kiosk serves one person at a time
// (a session takes tens of seconds, three attempts at most). A busy
// partner opens a flow per customer at a counter: 600 a minute sustained
// (10/s, e.g. 3000 kiosks each starting a session every 5 minutes) with a
// burst of 300 (a morning opening or a backlog replayed after an outage).
func defaultRateConfig() RateConfig {
	return RateConfig{
		TokenClient:    RateLimit{PerMinute: 10, Burst: 20},
		TokenSource:    RateLimit{PerMinute: 10, Burst: 10},
		EnrollSource:   RateLimit{PerMinute: 5, Burst: 10},
		SubmitFlow:     RateLimit{PerMinute: 10, Burst: 6},
		SubmitDevice:   RateLimit{PerMinute: 30, Burst: 10},
		InitiateClient: RateLimit{PerMinute: 600, Burst: 300},
		MaxKeys:        50_000,
		TrustedProxies: []string{},
		PasskeyChecks:  4,
	}
}

func (c RateConfig) validate() error {
	for _, l := range []struct {
		name string
		RateLimit
	}{{"token_client", c.TokenClient}, {"token_source", c.TokenSource}, {"enroll_source", c.EnrollSource},
		{"submit_flow", c.SubmitFlow}, {"submit_device", c.SubmitDevice}, {"initiate_client", c.InitiateClient}} {
		if !(l.PerMinute > 0) || math.IsInf(l.PerMinute, 0) {
			return errField("limits.rate."+l.name+".per_minute", "must be > 0, got %v", l.PerMinute)
		}
		if l.Burst < 1 || l.Burst > 1_000_000 {
			return errField("limits.rate."+l.name+".burst", "must be in [1,1000000], got %d", l.Burst)
		}
	}
	if c.MaxKeys < 100 || c.MaxKeys > 10_000_000 {
		return errField("limits.rate.max_keys", "must be in [100,10000000], got %d", c.MaxKeys)
	}
	if c.PasskeyChecks < 1 || c.PasskeyChecks > 64 {
		return errField("limits.rate.passkey_checks", "must be in [1,64], got %d", c.PasskeyChecks)
	}
	if _, err := parsePrefixes(c.TrustedProxies); err != nil {
		return errField("limits.rate.trusted_proxies", "%v", err)
	}
	return nil
}

// parsePrefixes parses addresses ("10.0.0.1") and prefixes ("10.0.0.0/8").
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %q is not an IP address or CIDR prefix", i, s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// keyedLimiter is a token bucket per key, at most max keys: the least
// recently used bucket is evicted when a new key arrives at the limit.
// Evicting a bucket forgets its debt, so a client must bring max_keys
// other keys between two of its own requests to reset itself; by then it
// is not limited by this key anyway.
type keyedLimiter struct {
	name  string
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets *simplelru.LRU[string, *rate.Limiter]
}

func newKeyedLimiter(name string, l RateLimit, maxKeys int) *keyedLimiter {
	lru, err := simplelru.NewLRU[string, *rate.Limiter](maxKeys, nil)
	if err != nil {
		panic(err) // maxKeys ≥ 1 is validated
	}
	return &keyedLimiter{name: name, limit: rate.Limit(l.PerMinute / 60), burst: l.Burst, buckets: lru}
}

// allow takes one token of key's bucket at now. When the bucket is empty it
// takes nothing and returns false with the wait until a token is there.
func (k *keyedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	k.mu.Lock()
	lim, ok := k.buckets.Get(key)
	if !ok {
		lim = rate.NewLimiter(k.limit, k.burst)
		k.buckets.Add(key, lim)
	}
	k.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops the buckets that are full at now (forgetting them loses
// nothing) and returns how many remain.
func (k *keyedLimiter) sweep(now time.Time) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, key := range k.buckets.Keys() {
		if lim, ok := k.buckets.Peek(key); ok && lim.TokensAt(now) >= float64(k.burst) {
			k.buckets.Remove(key)
		}
	}
	return k.buckets.Len()
}

// len is the number of buckets held.
func (k *keyedLimiter) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.buckets.Len()
}

// limiters are the gateway's rate limits.
type limiters struct {
	tokenClient, tokenSource, enrollSource, submitFlow, submitDevice, initiateClient *keyedLimiter

	trusted []netip.Prefix
	refused *prometheus.CounterVec
	locked  *prometheus.CounterVec
}

func newLimiters(c RateConfig, reg prometheus.Registerer) (*limiters, error) {
	trusted, err := parsePrefixes(c.TrustedProxies)
	if err != nil {
		return nil, err
	}
	l := &limiters{
		tokenClient:  newKeyedLimiter("token_client", c.TokenClient, c.MaxKeys),
		tokenSource:  newKeyedLimiter("token_source", c.TokenSource, c.MaxKeys),
		enrollSource: newKeyedLimiter("enroll_source", c.EnrollSource, c.MaxKeys),
		submitFlow:   newKeyedLimiter("submit_flow", c.SubmitFlow, c.MaxKeys),
		submitDevice: newKeyedLimiter("submit_device", c.SubmitDevice, c.MaxKeys),
		// One bucket per configured partner: the key is a token's client
		// id, never a value from the request.
		initiateClient: newKeyedLimiter("initiate_client", c.InitiateClient, c.MaxKeys),
		trusted:        trusted,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "faceverify_gateway", Name: "rate_limited_total",
			Help: "Requests refused 429 by limit: token_client, token_source, enroll_source, submit_flow, submit_device, initiate_client.",
		}, []string{"limit"}),
		locked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "faceverify_gateway", Name: "user_locked_total",
			Help: "Refusals of a locked-out partner user by stage: initiate (423), submit (423), process (attempt REJECTED USER_LOCKED).",
		}, []string{"stage"}),
	}
	for _, c := range []prometheus.Collector{l.refused, l.locked} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return l, nil
}

func (l *limiters) all() []*keyedLimiter {
	return []*keyedLimiter{l.tokenClient, l.tokenSource, l.enrollSource, l.submitFlow, l.submitDevice, l.initiateClient}
}

// sweep drops full buckets of every limit.
func (l *limiters) sweep(now time.Time) {
	for _, k := range l.all() {
		k.sweep(now)
	}
}

// take takes a token for key from k, or returns the 429 to answer.
func (l *limiters) take(k *keyedLimiter, key string, now time.Time) error {
	ok, wait := k.allow(key, now)
	if ok {
		return nil
	}
	l.refused.WithLabelValues(k.name).Inc()
	secs := waitSeconds(wait)
	return &limitError{status: http.StatusTooManyRequests, code: api.CodeRateLimited,
		msg:        fmt.Sprintf("too many requests (%s limit); retry after %d s", k.name, secs),
		retryAfter: secs}
}

// limitError is an API refusal that tells when to come back: 429
// rate_limited, 423 user_locked, 503 server_busy. It is answered with
// Retry-After (seconds) and api.Error's retry_after_s (and unlock_at).
type limitError struct {
	status     int
	code       string
	msg        string
	retryAfter int       // seconds, ≥ 1
	unlockAt   time.Time // user_locked only
}

func (e *limitError) Error() string { return e.code + ": " + e.msg }

func (e *limitError) write(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	body := api.Error{Code: e.code, Message: e.msg, RetryAfterS: e.retryAfter}
	if !e.unlockAt.IsZero() {
		t := e.unlockAt.UTC()
		body.UnlockAt = &t
	}
	writeJSON(w, e.status, body)
}

// waitSeconds rounds a wait up to whole seconds, at least 1.
func waitSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// source is the key of the request's source address: the TCP peer, or
// when the peer is a trusted proxy the right-most X-Forwarded-For entry
// that is not a trusted proxy (an unparsable entry stops the walk at the
// proxy that added it). IPv4 addresses are keys as they are, IPv6 ones by
// their /64 (one subscriber's allocation).
func (l *limiters) source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "peer:" + host
	}
	addr = addr.Unmap()
	if l.isTrusted(addr) {
		hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(hops[i])
			if err != nil {
				break
			}
			addr = a.Unmap()
			if !l.isTrusted(addr) {
				break
			}
		}
	}
	return sourceKey(addr)
}

func (l *limiters) isTrusted(a netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor splits X-Forwarded-For header values into hops, left to
// right, without zones.
func forwardedFor(values []string) []string {
	var hops []string
	for _, v := range values {
		for _, h := range strings.Split(v, ",") {
			h = strings.TrimSpace(h)
			if strings.HasPrefix(h, "[") { // "[::1]:443"
				if host, _, err := net.SplitHostPort(h); err == nil {
					h = host
				}
			} else if strings.Count(h, ":") == 1 { // "1.2.3.4:443"
				h, _, _ = strings.Cut(h, ":")
			}
			hops = append(hops, h)
		}
	}
	return hops
}

// sourceKey is the limiter key of an address.
func sourceKey(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}
