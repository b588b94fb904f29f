package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/gateway"
)

// TestHashPasskey: the hash printed verifies the passkey read from stdin
// (or the terminal prompt); the passkey is never printed and never taken
// from the command line.
func TestHashPasskey(t *testing.T) {
	const pk = "partner-passkey-0123456789"
	noTerm := func() (string, error) { t.Fatal("prompted without a terminal"); return "", nil }
	tests := []struct {
		name    string
		args    []string
		stdin   string
		isTerm  bool
		prompts []string
		code    int
		stderr  string
	}{
		{"stdin line", []string{"hash-passkey"}, pk + "\n", false, nil, 0, ""},
		{"stdin without newline", []string{"hash-passkey"}, pk, false, nil, 0, ""},
		{"stdin crlf", []string{"hash-passkey"}, pk + "\r\nsecond line\n", false, nil, 0, ""},
		{"terminal twice", []string{"hash-passkey"}, "", true, []string{pk, pk}, 0, "Passkey: "},
		{"terminal mismatch", []string{"hash-passkey"}, "", true, []string{pk, pk + "x"}, 1, "the two passkeys differ"},
		{"short", []string{"hash-passkey"}, "short\n", false, nil, 2, "must be 16–1024 characters, got 5"},
		{"empty stdin", []string{"hash-passkey"}, "", false, nil, 2, "got 0"},
		{"passkey as argument", []string{"hash-passkey", pk}, "", false, nil, 2, "takes no arguments"},
		{"no subcommand", nil, "", false, nil, 2, "usage: facegateway partners hash-passkey"},
		{"unknown subcommand", []string{"add"}, "", false, nil, 2, "usage:"},
		{"help", []string{"-h"}, "", false, nil, 0, "usage:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read := noTerm
			if tt.isTerm {
				i := 0
				read = func() (string, error) {
					if i >= len(tt.prompts) {
						return "", errors.New("no more input")
					}
					i++
					return tt.prompts[i-1], nil
				}
			}
			var stdout, stderr bytes.Buffer
			code := hashPasskeyMain(tt.args, strings.NewReader(tt.stdin), tt.isTerm, read, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d containing %q", code, stderr.String(), tt.code, tt.stderr)
			}
			if strings.Contains(stdout.String()+stderr.String(), pk) {
				t.Errorf("the passkey was printed: %q %q", stdout.String(), stderr.String())
			}
			if code != 0 || tt.stderr == "usage:" {
				if code != 0 && stdout.Len() > 0 {
					t.Errorf("output on failure: %q", stdout.String())
				}
				return
			}
			h, err := gateway.ParsePasskeyHash(strings.TrimSuffix(stdout.String(), "\n"))
			if err != nil {
				t.Fatalf("output %q: %v", stdout.String(), err)
			}
			if err := h.CheckStrength(); err != nil || !h.Verify(pk) || h.Verify(pk+"x") {
				t.Errorf("hash %q: strength %v, verifies %v", stdout.String(), err, h.Verify(pk))
			}
		})
	}
}
