package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Outbound calls to partners (reference API, image_url, callbacks) go
// through a partner's own http.Client whose dialer checks every address it
// connects to, after resolution: an address in a refused range (see
// refusedRange) is never connected to unless the partner is configured
// with allow_private_network. Because the check happens at dial time on
// the resolved address, a name that answers a public address when the
// configuration is loaded and a private one later (DNS rebinding) is still
// refused. The clients use no proxy (Transport.Proxy is nil, whatever
// HTTP_PROXY says) and follow no redirects.

// AddressRefusedError: a partner URL's host resolved to an address in a
// refused range.
type AddressRefusedError struct {
	Host string     // the host as the URL names it (configured or served by the partner)
	Addr netip.Addr // the refused address (logged; never shown to the partner)
	Rule string     // the range's name: "loopback", "private", "link-local", ...
}

func (e *AddressRefusedError) Error() string {
	return fmt.Sprintf("address refused by rule %s: host %s resolved to %s (partner not configured with allow_private_network)", e.Rule, e.Host, e.Addr)
}

// Detail is the partner-safe text: the rule and the host, not the address.
func (e *AddressRefusedError) Detail() string {
	return fmt.Sprintf("address refused by rule %s: host %q resolves to a %s address", e.Rule, e.Host, e.Rule)
}

// refusedPrefixes are the special-purpose ranges (IANA IPv4 and IPv6
// Special-Purpose Address Registries, RFC 6890 and successors) a partner
// on the internet never legitimately resolves to, each with the rule named
// in errors and logs.
var refusedPrefixes = []struct {
	prefix netip.Prefix
	rule   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"}, // "this network" (RFC 791); 0.0.0.0 reaches the local host
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"}, // RFC 1918
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("fc00::/7"), "private"},  // unique local (RFC 4193)
	{netip.MustParsePrefix("fec0::/10"), "private"}, // site-local (deprecated, RFC 3879)
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("100.64.0.0/10"), "cgnat"}, // shared address space (RFC 6598)
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},       // incl. 255.255.255.255 broadcast
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},      // IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), "reserved"},      // TEST-NET-1
	{netip.MustParsePrefix("198.51.100.0/24"), "reserved"},   // TEST-NET-2
	{netip.MustParsePrefix("203.0.113.0/24"), "reserved"},    // TEST-NET-3
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},     // benchmarking
	{netip.MustParsePrefix("192.88.99.0/24"), "reserved"},    // 6to4 relay anycast (deprecated)
	{netip.MustParsePrefix("2001:db8::/32"), "reserved"},     // documentation
	{netip.MustParsePrefix("100::/64"), "reserved"},          // discard-only
	{netip.MustParsePrefix("2001::/32"), "reserved"},         // Teredo: tunnels to an unknowable IPv4 address
	{netip.MustParsePrefix("2001:10::/28"), "reserved"},      // ORCHID
	{netip.MustParsePrefix("2001:20::/28"), "reserved"},      // ORCHIDv2
	{netip.MustParsePrefix("::/96"), "reserved"},             // IPv4-compatible (deprecated)
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private"},     // local-use NAT64 (RFC 8215)
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "reserved"},   // SIIT IPv4-translated
	{netip.MustParsePrefix("5f00::/16"), "reserved"},         // SRv6 SIDs
	{netip.MustParsePrefix("3fff::/20"), "reserved"},         // documentation (RFC 9637)
	{netip.MustParsePrefix("2620:4f:8000::/48"), "reserved"}, // AS112 direct delegation
}

// Prefixes that embed an IPv4 address: the embedded one is classified.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96") // well-known NAT64 (RFC 6052)
	sixToFour   = netip.MustParsePrefix("2002::/16")    // 6to4 (RFC 3056)
)

// refusedRange returns the rule that refuses connecting to a, or "" when a
// is a global unicast address. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d)
// are judged as their IPv4 address, NAT64 (64:ff9b::/96) and 6to4
// (2002::/16) addresses by the IPv4 address they embed; zones are ignored.
func refusedRange(a netip.Addr) string {
	if !a.IsValid() {
		return "unspecified"
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64Prefix.Contains(a):
			if r := refusedRange(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
				return r + " (via NAT64)"
			}
			return ""
		case sixToFour.Contains(a):
			if r := refusedRange(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
				return r + " (via 6to4)"
			}
			return ""
		}
	}
	for _, p := range refusedPrefixes {
		if p.prefix.Contains(a) {
			return p.rule
		}
	}
	return ""
}

// lookupFunc resolves a host name to its addresses.
type lookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// dialFunc connects to an "ip:port" address.
type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// guardedDialer resolves a host, refuses it when any of its addresses is in
// a refused range (unless allowPrivate), then connects to the checked
// addresses themselves, so no second resolution can answer differently.
type guardedDialer struct {
	allowPrivate bool
	lookup       lookupFunc
	dial         dialFunc
}

func newGuardedDialer(allowPrivate bool, lookup lookupFunc, dial dialFunc) *guardedDialer {
	d := &guardedDialer{allowPrivate: allowPrivate, lookup: lookup, dial: dial}
	if d.lookup == nil {
		d.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if d.dial == nil {
		nd := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: d.control}
		d.dial = nd.DialContext
	}
	return d
}

// control re-checks the address the socket is about to connect to (the
// last line of defence should a dial function resolve names itself).
func (d *guardedDialer) control(network, address string, _ syscall.RawConn) error {
	if d.allowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: not an IP address: %w", address, err)
	}
	if rule := refusedRange(ap.Addr()); rule != "" {
		return &AddressRefusedError{Host: ap.Addr().String(), Addr: ap.Addr(), Rule: rule}
	}
	return nil
}

// DialContext is http.Transport.DialContext.
func (d *guardedDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		addrs, err = d.lookup(ctx, host)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("lookup %s: no addresses", host)
		}
	}
	if !d.allowPrivate {
		for _, a := range addrs {
			if rule := refusedRange(a); rule != "" {
				return nil, &AddressRefusedError{Host: host, Addr: a.WithZone("").Unmap(), Rule: rule}
			}
		}
	}
	var errs []error
	for _, a := range addrs {
		c, err := d.dial(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// newPartnerClient is the http.Client of a partner's outbound calls: the
// guarded dialer, no proxy, no redirects followed (a partner answer cannot
// bounce the gateway to another address), timeouts per call from Config.
func newPartnerClient(allowPrivate bool, lookup lookupFunc, dial dialFunc) *http.Client {
	d := newGuardedDialer(allowPrivate, lookup, dial)
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// partnerClient is the client for a partner's outbound calls: its own
// guarded client, Deps.HTTPClient when one was given, or a client refusing
// every special address for a partner no longer configured.
func (g *Gateway) partnerClient(clientID string) *http.Client {
	if c, ok := g.partnerClients[clientID]; ok {
		return c
	}
	return g.client
}

// hostAllowed reports whether u's host and port match one of hosts
// ("host" or "host:port", IPv6 literals in brackets), host names
// case-insensitively. An entry without a port matches only the URL
// scheme's default port (80 for http, 443 for https), never any port.
func hostAllowed(u *url.URL, hosts []string) bool {
	port := effectivePort(u)
	for _, h := range hosts {
		eh, ep := splitHostEntry(h)
		if ep == "" {
			ep = defaultPort(u.Scheme)
		}
		if strings.EqualFold(eh, u.Hostname()) && ep == port {
			return true
		}
	}
	return false
}

// splitHostEntry splits "host:port", "[v6]:port", "host" or "[v6]".
func splitHostEntry(h string) (host, port string) {
	if hh, p, err := net.SplitHostPort(h); err == nil {
		return hh, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), ""
}

// effectivePort is u's port, or its scheme's default.
func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return defaultPort(u.Scheme)
}

func defaultPort(scheme string) string {
	if strings.EqualFold(scheme, "http") {
		return "80"
	}
	return "443"
}

// privateHost reports the rule refusing a URL host given as an IP literal
// or "localhost" (known without resolving), or "".
func privateHost(host string) string {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return "loopback"
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return refusedRange(a)
	}
	return ""
}
