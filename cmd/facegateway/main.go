// Command facegateway is the faceverify verification gateway and its tools:
//
//	facegateway serve   -config facegateway.toml   run the gateway
//	facegateway partner -references DIR ...        run the sample partner backend
//	facegateway match   --json IMAGE_A IMAGE_B     compare two photos
//	facegateway bench   [-workers N] [-postgres DSN -replicas N]  load-test on loopback
//	facegateway eval    --out DIR SET_DIR          error rates on a labelled set
//	facegateway broker-user add NAME ROLE          an embedded broker account
//	facegateway callbacks list|redeliver ...        the callback outbox
//	facegateway partners hash-passkey < passkey    a partner passkey's hash
//	facegateway audit list [-verify]               the audit log
//
// Secrets come from the environment (see `facegateway serve -h`).
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/sigctx"
)

// fastJPEG decodes the JPEG files of every subcommand (uploads, references,
// eval and bench photos): libjpeg-turbo in builds tagged turbojpeg
// (turbojpeg.go), nil otherwise, and then image/jpeg decodes them.
var fastJPEG inference.JPEGDecoder

const usage = `usage: facegateway <command> [flags]

commands:
  serve    run the verification gateway (HTTP API, workers, callbacks)
  partner  run the sample partner backend (reference photos, callbacks, sessions)
  match    compare the faces of two images
  bench    measure verifications/s, latency, RSS and CPU per verification on loopback
  eval     error rates of matching and liveness on a labelled set (DET, APCER/BPCER)
  devices  register, revoke and list the kiosks allowed to submit
  callbacks  list the callback outbox, redeliver a callback
  audit    list and verify the append-only audit log
  fleet    serve the live fleet page (kiosk status, events, telemetry over MQTT)
  broker-user  print an account line for the embedded broker's users file
  partners hash-passkey  print the argon2id hash of a partner passkey (read from stdin)

Run "facegateway <command> -h" for the flags of a command.
`

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// realMain dispatches a subcommand and returns the exit code: 0 success,
// 1 failure, 2 usage error.
func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	inference.SetJPEGDecoder(fastJPEG)
	ctx, stop := sigctx.New("facegateway", stderr)
	defer stop()
	switch args[0] {
	case "serve":
		return serveMain(ctx, args[1:], stdout, stderr)
	case "partner":
		return partnerMain(ctx, args[1:], stdout, stderr)
	case "match":
		return matchMain(ctx, args[1:], stdout, stderr)
	case "bench":
		return benchMain(ctx, args[1:], stdout, stderr) // bench.go
	case "eval":
		return evalMain(ctx, args[1:], stdout, stderr) // eval.go
	case "devices":
		return devicesMain(ctx, args[1:], stdout, stderr)
	case "callbacks":
		return callbacksMain(ctx, args[1:], stdout, stderr) // callbacks.go
	case "audit":
		return auditMain(ctx, args[1:], stdout, stderr) // audit.go
	case "fleet":
		return fleetMain(ctx, args[1:], stdout, stderr) // fleet.go
	case "partners":
		return partnersMain(args[1:], os.Stdin, stdout, stderr) // partners.go
	case "broker-user":
		return brokerUserMain(args[1:], os.Stdin, os.Getenv, stdout, stderr) // brokeruser.go
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "facegateway: unknown command %q\n%s", args[0], usage)
		return 2
	}
}
