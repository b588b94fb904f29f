package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/faceverify/faceverify/gateway"
)

// minPasskey and maxPasskey bound the passkeys hash-passkey accepts.
const (
	minPasskey = 16
	maxPasskey = 1024
)

const partnersUsage = `usage: facegateway partners hash-passkey

Prints the argon2id hash (PHC string) of a partner passkey for the
gateway configuration:

  [[partners]]
  passkey_hashes = ["$argon2id$v=19$m=19456,t=2,p=1$…$…"]

The passkey (16–1024 characters; generate one, e.g. openssl rand -base64 32)
is read from standard input (its first line), or prompted for twice without
echo when standard input is a terminal. It is never taken from the command
line and never printed. Give the passkey itself to the partner; keep two
hashes in passkey_hashes while the partner moves to a new passkey.
`

// partnersMain implements `facegateway partners`.
func partnersMain(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	isTerm := term.IsTerminal(int(stdin.Fd()))
	readSecret := func() (string, error) {
		b, err := term.ReadPassword(int(stdin.Fd()))
		fmt.Fprintln(stderr)
		return string(b), err
	}
	return hashPasskeyMain(args, stdin, isTerm, readSecret, stdout, stderr)
}

// hashPasskeyMain is partnersMain with the terminal abstracted: when
// isTerm, the passkey is prompted for (twice) through readSecret,
// otherwise read from the first line of stdin.
func hashPasskeyMain(args []string, stdin io.Reader, isTerm bool, readSecret func() (string, error), stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "hash-passkey" {
		fmt.Fprint(stderr, partnersUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	if len(args) > 1 {
		if args[1] == "-h" || args[1] == "--help" {
			fmt.Fprint(stderr, partnersUsage)
			return 0
		}
		fmt.Fprintf(stderr, "facegateway partners hash-passkey: takes no arguments (the passkey is read from standard input), got %d\n", len(args)-1)
		return 2
	}
	var passkey string
	if isTerm {
		fmt.Fprint(stderr, "Passkey: ")
		p1, err := readSecret()
		if err != nil {
			fmt.Fprintf(stderr, "facegateway partners hash-passkey: read passkey: %v\n", err)
			return 1
		}
		fmt.Fprint(stderr, "Again: ")
		p2, err := readSecret()
		if err != nil {
			fmt.Fprintf(stderr, "facegateway partners hash-passkey: read passkey: %v\n", err)
			return 1
		}
		if p1 != p2 {
			fmt.Fprintln(stderr, "facegateway partners hash-passkey: the two passkeys differ")
			return 1
		}
		passkey = p1
	} else {
		line, err := bufio.NewReader(io.LimitReader(stdin, maxPasskey+2)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			fmt.Fprintf(stderr, "facegateway partners hash-passkey: read passkey: %v\n", err)
			return 1
		}
		passkey = strings.TrimRight(line, "\r\n")
	}
	if n := len(passkey); n < minPasskey || n > maxPasskey {
		fmt.Fprintf(stderr, "facegateway partners hash-passkey: the passkey must be %d–%d characters, got %d\n", minPasskey, maxPasskey, n)
		return 2
	}
	fmt.Fprintln(stdout, gateway.HashPasskey(passkey))
	return 0
}
