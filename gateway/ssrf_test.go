package gateway_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
)

// lockedBuffer is a log sink safe for the gateway's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newEnvDeps is newEnv with the gateway's Deps adjusted before it starts.
func newEnvDeps(t *testing.T, deps func(*gateway.Deps), mutate ...func(*gateway.Config)) *env {
	t.Helper()
	p := newFakePartner(t)
	e := &env{t: t, analyzer: gatewaytest.NewAnalyzer(), partner: p, clock: &clock{}, deps: deps}
	e.cfg = testConfig(t, p)
	for _, m := range mutate {
		m(&e.cfg)
	}
	e.dbPath = e.cfg.Database.Path
	e.start()
	return e
}

// TestReferenceHostResolvingToLoopbackRefused: a partner not configured as
// local whose reference host name resolves to 127.0.0.1 (here through an
// injected resolver: no real DNS) is never contacted; the flow ends
// REFERENCE_UNAVAILABLE, final at once, with a detail naming the rule and
// the configured host but not the address, and the log names the rule and
// address but not the partner user id.
func TestReferenceHostResolvingToLoopbackRefused(t *testing.T) {
	var logs lockedBuffer
	var lookups sync.Map
	e := newEnvDeps(t, func(d *gateway.Deps) {
		d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		d.LookupNetIP = func(_ context.Context, host string) ([]netip.Addr, error) {
			lookups.Store(host, true)
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
	}, func(c *gateway.Config) {
		c.Partners[0].ReferenceURL = strings.Replace(c.Partners[0].ReferenceURL, "127.0.0.1", "partner.test", 1)
		c.Partners[0].CallbackURL = ""
		c.Partners[0].AllowPrivateNetwork = false
		c.Partners[0].InsecureAllowHTTP = true // plain http off loopback
	})
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Red))
	const user = "alice-7c1e"
	tok, cid := e.initiate(user)
	if code, _, ae := e.submit(tok, selfie(gatewaytest.Red, "k1")); code != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", code, ae)
	}
	st := e.waitStatus(tok)
	if st.Status != api.StatusRejected || st.Reason != api.ReasonReferenceUnavailable || st.NextAction != api.ActionExit {
		t.Fatalf("status %+v, want REJECTED REFERENCE_UNAVAILABLE EXIT", st)
	}
	if n := e.partner.referenceCalls(); n != 0 {
		t.Errorf("reference API on loopback called %d times", n)
	}
	if _, ok := lookups.Load("partner.test"); !ok {
		t.Errorf("partner.test was not resolved through the injected resolver")
	}
	d := e.details(cid)
	want := `address refused by rule loopback: host "partner.test" resolves to a loopback address`
	if d.Detail != want || len(d.Attempts) != 1 || d.Attempts[0].Detail != want {
		t.Errorf("details detail %q (attempts %+v), want %q", d.Detail, d.Attempts, want)
	}
	if strings.Contains(d.Detail, "127.0.0.1") {
		t.Errorf("detail leaks the resolved address: %q", d.Detail)
	}
	log := logs.String()
	if !strings.Contains(log, "rule=loopback") || !strings.Contains(log, "addr=127.0.0.1") {
		t.Errorf("log does not name the rule and address:\n%s", log)
	}
	if strings.Contains(log, user) {
		t.Errorf("log names the partner user id:\n%s", log)
	}
}
