package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/faceverify/faceverify/gateway/api"
)

func TestRefusedRange(t *testing.T) {
	tests := []struct {
		addr string
		rule string // "" = allowed
	}{
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"::", "unspecified"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"}, // IPv4-mapped
		{"10.0.0.1", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"::ffff:192.168.1.1", "private"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"fec0::1", "private"},
		{"64:ff9b:1::a00:1", "private"},
		{"169.254.169.254", "link-local"}, // cloud metadata
		{"169.254.0.1", "link-local"},
		{"::ffff:169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"}, // zone ignored
		{"100.64.0.1", "cgnat"},
		{"100.127.255.255", "cgnat"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "reserved"},
		{"240.0.0.1", "reserved"},
		{"192.0.2.1", "reserved"},
		{"198.51.100.7", "reserved"},
		{"203.0.113.9", "reserved"},
		{"198.18.0.1", "reserved"},
		{"192.0.0.8", "reserved"},
		{"2001:db8::1", "reserved"},
		{"2001::1", "reserved"}, // Teredo
		{"::127.0.0.1", "reserved"},
		{"100::1", "reserved"},
		{"64:ff9b::7f00:1", "loopback (via NAT64)"},
		{"64:ff9b::a9fe:a9fe", "link-local (via NAT64)"},
		{"2002:7f00:1::1", "loopback (via 6to4)"},
		{"2002:c0a8:101::1", "private (via 6to4)"},
		// Global unicast: allowed.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"172.32.0.1", ""},
		{"100.128.0.1", ""},
		{"169.253.255.255", ""},
		{"192.169.0.1", ""},
		{"::ffff:8.8.8.8", ""},
		{"2606:4700:4700::1111", ""},
		{"2a00:1450:4001::1", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},  // 6to4 of 8.8.8.8
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got := refusedRange(a); got != tt.rule {
			t.Errorf("refusedRange(%s) = %q, want %q", tt.addr, got, tt.rule)
		}
	}
	if got := refusedRange(netip.Addr{}); got == "" {
		t.Errorf("the zero Addr is allowed")
	}
}

// fakeNet is an injected resolver and dialer: no real DNS, no real
// connection. answers is consumed one per lookup, the last one repeating.
type fakeNet struct {
	mu      sync.Mutex
	answers [][]netip.Addr
	lookups int
	dialed  []string
}

func (f *fakeNet) lookup(_ context.Context, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := min(f.lookups, len(f.answers)-1)
	f.lookups++
	return f.answers[i], nil
}

func (f *fakeNet) dial(_ context.Context, network, address string) (net.Conn, error) {
	f.mu.Lock()
	f.dialed = append(f.dialed, address)
	f.mu.Unlock()
	c1, c2 := net.Pipe()
	c2.Close()
	return c1, nil
}

// TestGuardedDialerCatchesRebinding: a name that first answers a public
// address and then loopback (DNS rebinding) is connected to the first
// time, refused the second with the rule named, and the dialer connects to
// the checked address itself (no second resolution).
func TestGuardedDialerCatchesRebinding(t *testing.T) {
	f := &fakeNet{answers: [][]netip.Addr{
		{netip.MustParseAddr("93.184.216.34")},
		{netip.MustParseAddr("127.0.0.1")},
	}}
	d := newGuardedDialer(false, f.lookup, f.dial)
	ctx := context.Background()
	c, err := d.DialContext(ctx, "tcp", "ref.partner.example:443")
	if err != nil {
		t.Fatalf("first dial (public answer): %v", err)
	}
	c.Close()
	if len(f.dialed) != 1 || f.dialed[0] != "93.184.216.34:443" {
		t.Fatalf("dialed %q, want the resolved address 93.184.216.34:443", f.dialed)
	}
	_, err = d.DialContext(ctx, "tcp", "ref.partner.example:443")
	var ar *AddressRefusedError
	if !errors.As(err, &ar) || ar.Rule != "loopback" || ar.Host != "ref.partner.example" || ar.Addr != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("second dial (rebound to loopback): %v, want AddressRefusedError loopback", err)
	}
	if len(f.dialed) != 1 {
		t.Errorf("refused address was dialed: %q", f.dialed)
	}
	if d := ar.Detail(); !strings.Contains(d, "rule loopback") || strings.Contains(d, "127.0.0.1") {
		t.Errorf("detail %q: want the rule, not the address", d)
	}
}

// TestGuardedDialerMixedAnswers: one refused address among the answers
// refuses the name; allow_private_network dials whatever it resolves to.
func TestGuardedDialerMixedAnswers(t *testing.T) {
	mixed := []netip.Addr{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("::ffff:169.254.169.254")}
	f := &fakeNet{answers: [][]netip.Addr{mixed}}
	_, err := newGuardedDialer(false, f.lookup, f.dial).DialContext(context.Background(), "tcp", "cdn.partner.example:443")
	var ar *AddressRefusedError
	if !errors.As(err, &ar) || ar.Rule != "link-local" || ar.Addr != netip.MustParseAddr("169.254.169.254") {
		t.Fatalf("mixed answers: %v, want link-local refused", err)
	}
	if len(f.dialed) != 0 {
		t.Errorf("dialed %q despite a refused answer", f.dialed)
	}
	f = &fakeNet{answers: [][]netip.Addr{{netip.MustParseAddr("127.0.0.1")}}}
	c, err := newGuardedDialer(true, f.lookup, f.dial).DialContext(context.Background(), "tcp", "localhost:8090")
	if err != nil {
		t.Fatalf("allow_private_network: %v", err)
	}
	c.Close()
}

// TestGuardedDialerLiteralAndControl: an IP literal is checked without a
// lookup, and the socket-level Control refuses a refused address too.
func TestGuardedDialerLiteralAndControl(t *testing.T) {
	f := &fakeNet{answers: [][]netip.Addr{{}}}
	d := newGuardedDialer(false, f.lookup, f.dial)
	_, err := d.DialContext(context.Background(), "tcp", "[fe80::1]:80")
	var ar *AddressRefusedError
	if !errors.As(err, &ar) || ar.Rule != "link-local" || f.lookups != 0 {
		t.Fatalf("literal: %v (lookups %d), want link-local without a lookup", err, f.lookups)
	}
	if err := d.control("tcp4", "10.1.2.3:443", nil); !errors.As(err, &ar) || ar.Rule != "private" {
		t.Errorf("control(10.1.2.3): %v, want private", err)
	}
	if err := d.control("tcp4", "8.8.8.8:443", nil); err != nil {
		t.Errorf("control(8.8.8.8): %v", err)
	}
}

// TestPartnerClientIgnoresProxy: with HTTP_PROXY set, the partner client
// still connects to the partner's own (checked) address, never to a proxy
// that would resolve and connect on its behalf.
func TestPartnerClientIgnoresProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://proxy.example:3128")
	t.Setenv("HTTPS_PROXY", "http://proxy.example:3128")
	f := &fakeNet{answers: [][]netip.Addr{{netip.MustParseAddr("93.184.216.34")}}}
	c := newPartnerClient(false, f.lookup, f.dial)
	if tr := c.Transport.(*http.Transport); tr.Proxy != nil {
		t.Fatalf("partner transport has a Proxy function")
	}
	c.Get("http://ref.partner.example/reference") // the fake connection closes at once
	if len(f.dialed) == 0 || f.dialed[0] != "93.184.216.34:80" {
		t.Errorf("dialed %q, want the partner's address on port 80, not the proxy's 3128", f.dialed)
	}
}

func TestHostAllowedPorts(t *testing.T) {
	tests := []struct {
		url   string
		hosts []string
		want  bool
	}{
		{"https://cdn.example/a.png", []string{"cdn.example"}, true},
		{"https://cdn.example:443/a.png", []string{"cdn.example"}, true},
		{"https://CDN.example/a.png", []string{"cdn.EXAMPLE"}, true},
		{"https://cdn.example:8443/a.png", []string{"cdn.example"}, false}, // no port: default only
		{"http://cdn.example/a.png", []string{"cdn.example"}, true},        // http default 80
		{"http://cdn.example:8080/a.png", []string{"cdn.example"}, false},
		{"http://127.0.0.1:9999/a.png", []string{"127.0.0.1"}, false}, // a second loopback service
		{"http://127.0.0.1:9999/a.png", []string{"127.0.0.1:8090"}, false},
		{"http://127.0.0.1:8090/a.png", []string{"127.0.0.1:8090"}, true},
		{"https://cdn.example:8443/a.png", []string{"cdn.example:8443"}, true},
		{"https://cdn.example/a.png", []string{"cdn.example:8443"}, false},
		{"https://[2001:db8::1]/a.png", []string{"[2001:db8::1]"}, true},
		{"https://[2001:db8::1]:8443/a.png", []string{"[2001:db8::1]"}, false},
		{"https://[2001:db8::1]:8443/a.png", []string{"[2001:db8::1]:8443"}, true},
		{"https://other.example/a.png", []string{"cdn.example"}, false},
		{"https://cdn.example.evil.test/a.png", []string{"cdn.example"}, false},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := hostAllowed(u, tt.hosts); got != tt.want {
			t.Errorf("hostAllowed(%s, %q) = %v, want %v", tt.url, tt.hosts, got, tt.want)
		}
	}
}

func TestPrivatePartnerHostsNeedOptIn(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*PartnerConfig)
		want   string
	}{
		{"loopback reference", func(p *PartnerConfig) { p.ReferenceURL = "https://127.0.0.1/ref" }, "partners[0].reference_url: host \"127.0.0.1\" is a loopback address"},
		{"localhost callback", func(p *PartnerConfig) { p.CallbackURL = "https://localhost/cb" }, "partners[0].callback_url: host \"localhost\" is a loopback address"},
		{"metadata image host", func(p *PartnerConfig) { p.ImageHosts = []string{"169.254.169.254"} }, "partners[0].image_hosts[0]: host \"169.254.169.254\" is a link-local address"},
		{"private v6 image host", func(p *PartnerConfig) { p.ImageHosts = []string{"[fd00::1]:8443"} }, "partners[0].image_hosts[0]: host \"fd00::1\" is a private address"},
	} {
		c := DefaultConfig()
		c.Partners = []PartnerConfig{{ClientID: "acme", PasskeyHashes: []string{acmeHash}, ReferenceURL: "https://partner.example/ref", Flows: []string{"selfie"}}}
		tt.mutate(&c.Partners[0])
		c.Callback.Secret = "callback-secret-0123456789"
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "allow_private_network") {
			t.Errorf("%s: %v, want %q naming allow_private_network", tt.name, err, tt.want)
		}
		c.Partners[0].AllowPrivateNetwork = true
		if err := c.Validate(); err != nil {
			t.Errorf("%s with allow_private_network: %v", tt.name, err)
		}
	}
}

// metadataNet resolves partner.test to a public address that is really
// served by srv on loopback, and images.partner.test to the cloud
// metadata address; it records every address dialed.
type metadataNet struct {
	srv    *httptest.Server
	mu     sync.Mutex
	dialed []string
}

func (m *metadataNet) lookup(_ context.Context, host string) ([]netip.Addr, error) {
	switch host {
	case "partner.test":
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
	case "images.partner.test":
		return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
	}
	return nil, errors.New("no such host")
}

func (m *metadataNet) dial(ctx context.Context, network, address string) (net.Conn, error) {
	m.mu.Lock()
	m.dialed = append(m.dialed, address)
	m.mu.Unlock()
	host, _, _ := net.SplitHostPort(address)
	if host != "93.184.216.34" {
		return nil, errors.New("test network: unreachable")
	}
	var d net.Dialer
	return d.DialContext(ctx, network, m.srv.Listener.Addr().String())
}

// TestFetchReferenceMetadataRefused: the metadata address reached through
// an image_url is refused at dial time with the rule named in the error and
// in the partner-safe detail; through a redirect it is not followed. The
// metadata address is never dialed either way.
func TestFetchReferenceMetadataRefused(t *testing.T) {
	var answer func(w http.ResponseWriter, r *http.Request)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { answer(w, r) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	mn := &metadataNet{srv: srv}
	cfg := DefaultConfig()
	cfg.Reference.Retries = 0
	p := PartnerConfig{ClientID: "acme", ReferenceURL: "http://partner.test:" + port + "/reference",
		ImageHosts: []string{"images.partner.test:" + port}, InsecureAllowHTTP: true}
	g := &Gateway{cfg: cfg, partnerClients: map[string]*http.Client{"acme": newPartnerClient(false, mn.lookup, mn.dial)}}
	flow := Flow{PartnerUserID: "alice", PartnerUserIDType: "account", Kind: "selfie"}

	answer = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(api.ReferenceResponse{ImageURL: "http://images.partner.test:" + port + "/latest/meta-data/iam"})
	}
	_, err := g.fetchReference(context.Background(), p, flow)
	var ar *AddressRefusedError
	if !errors.As(err, &ar) || ar.Rule != "link-local" || ar.Host != "images.partner.test" {
		t.Fatalf("image_url to metadata: %v, want link-local refused", err)
	}
	detail := referenceDetail(err)
	if want := `address refused by rule link-local: host "images.partner.test" resolves to a link-local address`; detail != want {
		t.Errorf("detail %q, want %q", detail, want)
	}
	if strings.Contains(err.Error(), "alice") || strings.Contains(detail, "169.254") {
		t.Errorf("error %q / detail %q leaks the user id or the address", err, detail)
	}

	answer = func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	}
	_, err = g.fetchReference(context.Background(), p, flow)
	if err == nil || !strings.Contains(referenceDetail(err), "302") {
		t.Fatalf("redirect to metadata: %v, want the 302 answer refused", err)
	}
	if len(mn.dialed) == 0 {
		t.Errorf("nothing dialed: the reference API was not reached")
	}
	for _, a := range mn.dialed {
		if !strings.HasPrefix(a, "93.184.216.34:") {
			t.Errorf("dialed %s, want only the reference API's address", a)
		}
	}
}
