package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/faceverify/faceverify/gateway/broker"
)

// envBrokerUserPassword is the password `facegateway broker-user add` hashes.
const envBrokerUserPassword = "FACEGATEWAY_BROKER_USER_PASSWORD"

// minBrokerPassword is the shortest password broker-user add accepts.
const minBrokerPassword = 12

const brokerUserUsage = `usage: facegateway broker-user add [-iterations N] NAME ROLE

Prints one line of the embedded broker's users file (broker.users_file):

  NAME ROLE $7$<iterations>$<salt>$<PBKDF2-HMAC-SHA512 key>

Append it to the file and restart the gateway. The password (at least 12
characters; generate one, e.g. openssl rand -base64 24) is read from
FACEGATEWAY_BROKER_USER_PASSWORD, else from the first line of standard
input; it is never printed. The hash is mosquitto_passwd's format, so it
also works in a mosquitto password_file as NAME:HASH.

Roles (topic rules in docs/mqtt.md, "Embedded broker accounts"):
  kiosk          NAME = the kiosk's device.id; its own topics only
  operator       reads every kiosk's status, events, telemetry and replies;
                 sends commands (facegateway fleet, scripts)
  viewer         reads every kiosk's status, events and telemetry
  homeassistant  reads state and discovery; presses identify and self-test

Flags:
`

// brokerUserMain implements `facegateway broker-user`.
func brokerUserMain(args []string, stdin io.Reader, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("broker-user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, brokerUserUsage); fs.PrintDefaults() }
	iterations := fs.Int("iterations", broker.DefaultHashIterations,
		fmt.Sprintf("PBKDF2 iterations (at least %d)", broker.MinHashIterations))
	if len(args) == 0 || args[0] != "add" {
		fs.Usage()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprintf(stderr, "facegateway broker-user add: want NAME ROLE, got %q\n", fs.Args())
		return 2
	}
	name := fs.Arg(0)
	if !broker.ValidAccountName(name) {
		fmt.Fprintf(stderr, "facegateway broker-user add: name %q: must be 1–64 of [A-Za-z0-9._-] (a kiosk's device.id)\n", name)
		return 2
	}
	role, err := broker.ParseRole(fs.Arg(1))
	if err != nil {
		fmt.Fprintf(stderr, "facegateway broker-user add: %v\n", err)
		return 2
	}
	password := getenv(envBrokerUserPassword)
	if password == "" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			fmt.Fprintf(stderr, "facegateway broker-user add: read password: %v\n", err)
			return 1
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if len(password) < minBrokerPassword {
		fmt.Fprintf(stderr, "facegateway broker-user add: the password (from %s or standard input) must be at least %d characters\n",
			envBrokerUserPassword, minBrokerPassword)
		return 2
	}
	hash, err := broker.HashPassword(password, *iterations)
	if err != nil {
		fmt.Fprintf(stderr, "facegateway broker-user add: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "%s %s %s\n", name, role, hash)
	return 0
}
