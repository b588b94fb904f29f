package validate

import (
	"net"
	"strings"
	"testing"
)

func TestIDs(t *testing.T) {
	tests := []struct {
		name              string
		s                 string
		max               int
		wantChars, wantID bool
		wantToken         bool
	}{
		{"plain", "kiosk-01", 64, true, true, true},
		{"dots and underscores", "a.b_c", 64, true, true, false},
		{"empty", "", 64, false, false, false},
		{"dot", ".", 64, true, false, false},
		{"dot dot", "..", 64, true, false, false},
		{"leading dot", ".x", 64, true, true, false},
		{"at max", strings.Repeat("a", 64), 64, true, true, true},
		{"over max", strings.Repeat("a", 65), 64, false, false, false},
		{"slash", "a/b", 64, false, false, false},
		{"space", "a b", 64, false, false, false},
		{"plus", "a+b", 64, false, false, false},
		{"non-ASCII", "caf\u00e9", 64, false, false, false},
		{"NUL", "a\x00", 64, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IDChars(tt.s, tt.max); got != tt.wantChars {
				t.Errorf("IDChars(%q, %d) = %v, want %v", tt.s, tt.max, got, tt.wantChars)
			}
			if got := ID(tt.s, tt.max); got != tt.wantID {
				t.Errorf("ID(%q, %d) = %v, want %v", tt.s, tt.max, got, tt.wantID)
			}
			if got := Token(tt.s, tt.max); got != tt.wantToken {
				t.Errorf("Token(%q, %d) = %v, want %v", tt.s, tt.max, got, tt.wantToken)
			}
		})
	}
}

func TestLoopback(t *testing.T) {
	tests := []struct {
		in                   string
		host, hostPort, list bool
	}{
		{"localhost", true, true, false},
		{"LocalHost", true, true, false},
		{"127.0.0.1", true, true, false},
		{"127.1.2.3", true, true, false},
		{"::1", true, true, false}, // no port: the whole string is the host
		{"[::1]", true, true, false},
		{"127.0.0.1:8470", false, true, true},
		{"[::1]:8470", false, true, true},
		{"localhost:1883", false, true, true},
		{"0.0.0.0:8470", false, false, false},
		{":8470", false, false, false},
		{"10.0.0.1", false, false, false},
		{"example.com:443", false, false, false},
		{"localhost.example.com", false, false, false},
		{"", false, false, false},
	}
	for _, tt := range tests {
		if got := LoopbackHost(tt.in); got != tt.host {
			t.Errorf("LoopbackHost(%q) = %v, want %v", tt.in, got, tt.host)
		}
		if got := LoopbackHostPort(tt.in); got != tt.hostPort {
			t.Errorf("LoopbackHostPort(%q) = %v, want %v", tt.in, got, tt.hostPort)
		}
		if got := LoopbackListenAddr(tt.in); got != tt.list {
			t.Errorf("LoopbackListenAddr(%q) = %v, want %v", tt.in, got, tt.list)
		}
	}
}

func FuzzID(f *testing.F) {
	for _, s := range []string{"kiosk-01", ".", "..", "a/b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ID(s, 128) && (strings.ContainsAny(s, "/\\ \x00") || s == "." || s == "..") {
			t.Fatalf("ID accepted %q", s)
		}
		if Token(s, 128) && !ID(s, 128) {
			t.Fatalf("Token accepted %q that ID refuses", s)
		}
	})
}

// FuzzSplitHost: splitHost agrees with net.SplitHostPort on every input,
// and LoopbackHost with net.ParseIP's IsLoopback on every IP literal.
func FuzzSplitHost(f *testing.F) {
	for _, s := range []string{"127.0.0.1:80", "[::1]:8080", "[fe80::1%eth0]:1", ":8080", "localhost", "::1",
		"a:b:c", "[::1]", "[::1]:", "[a]b:1", "a]:1", "[[a]]:1", "x:[1", "::ffff:127.0.0.1", "::1%lo", "127.000.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, ok := splitHost(s)
		wantHost, _, err := net.SplitHostPort(s)
		if ok != (err == nil) || ok && host != wantHost {
			t.Errorf("splitHost(%q) = %q, %v; net.SplitHostPort: %q, %v", s, host, ok, wantHost, err)
		}
		if ip := net.ParseIP(s); ip != nil && LoopbackHost(s) != ip.IsLoopback() {
			t.Errorf("LoopbackHost(%q) = %v, net.ParseIP(%q).IsLoopback() = %v", s, LoopbackHost(s), s, ip.IsLoopback())
		}
	})
}
