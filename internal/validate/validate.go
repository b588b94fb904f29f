// Package validate holds the identifier and address rules that the agent,
// the gateway, the broker and the partner sample share, so each rule is
// written once. It is a leaf: standard library only, and no package that
// opens sockets (net/netip, not net), so the pure session state machine may
// reach it through the contract packages.
package validate

import (
	"net/netip"
	"strings"
)

// IDChars reports whether s is 1–max bytes, each of [A-Za-z0-9._-] (the
// alphabet of device ids, correlation ids, client ids, key ids and broker
// user names). It does not refuse "." and ".."; ID does.
func IDChars(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idByte(s[i], true) {
			return false
		}
	}
	return true
}

// ID reports whether s is 1–max bytes of [A-Za-z0-9._-] other than "." and
// "..", the path segments a URL cleaner rewrites, so the id is safe as one
// path segment of a URL or a file name in a directory the caller owns.
func ID(s string, max int) bool {
	return s != "." && s != ".." && IDChars(s, max)
}

// Token reports whether s is 1–max bytes of [A-Za-z0-9_-] (no dot): the
// alphabet of MQTT topic levels and Home Assistant node ids built from ids.
func Token(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idByte(s[i], false) {
			return false
		}
	}
	return true
}

func idByte(c byte, dot bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || dot && c == '.'
}

// LoopbackHost reports whether host (no port; IPv6 literals with or
// without brackets) is "localhost" in any case or a loopback IP address
// (127.0.0.0/8, ::1).
func LoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.IsLoopback()
}

// LoopbackHostPort reports whether hostport ("host:port", or a bare host
// such as an HTTP Host header without a port) names a loopback host (see
// LoopbackHost).
func LoopbackHostPort(hostport string) bool {
	host := hostport
	if h, ok := splitHost(hostport); ok {
		host = h
	}
	return LoopbackHost(host)
}

// LoopbackListenAddr reports whether a listen address ("host:port") binds
// only loopback. An address without a host (":8080") binds every interface
// and is not loopback; neither is one that does not parse.
func LoopbackListenAddr(addr string) bool {
	host, ok := splitHost(addr)
	return ok && LoopbackHost(host)
}

// splitHost returns the host of "host:port", "[host]:port" or
// "[host%zone]:port" and whether hostport has that form: the host that
// net.SplitHostPort returns where it returns no error.
func splitHost(hostport string) (string, bool) {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return "", false // missing port
	}
	host, j, k := hostport[:i], 0, 0
	if hostport[0] == '[' {
		end := strings.IndexByte(hostport, ']')
		if end < 0 || end+1 != i { // "]" must stand right before the last ":"
			return "", false
		}
		host, j, k = hostport[1:end], 1, end+1
	} else if strings.IndexByte(host, ':') >= 0 {
		return "", false // too many colons
	}
	if strings.IndexByte(hostport[j:], '[') >= 0 || strings.IndexByte(hostport[k:], ']') >= 0 {
		return "", false
	}
	return host, true
}
