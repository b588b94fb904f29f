// Command facedemo runs the whole faceverify flow on one machine: it starts
// the gateway (with its embedded MQTT broker), the sample partner and the
// kiosk agent as separate processes from bin/, then plays the partner and the
// kiosk app for three verifications over labelled photos: a genuine match, a
// different person, and a presentation attack. The photos are its own
// (cmd/facedemo/photos, built into the binary; sources and licences in
// photos/NOTICE.md), or those of -photos dir. It prints every MQTT progress
// event and one JSON result line per verification, and exits 0 only when all
// three decisions are the expected ones.
//
// For latency: -defaults uses the product's status settings, -repeat N runs
// the scenarios N times and prints command → EXIT p50/p90 per scenario, and
// -timeline prints each verification's timeline (the agent's own phase
// marks, GET /v1/session/timeline) and per-phase p50/p90 with the gateway's
// processing stages and the load average, e.g.
//
//	bin/facedemo -defaults -warmup -only genuine -repeat 10 -timeline
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	var o options
	flag.StringVar(&o.Photos, "photos", "", "photo folder laid out like cmd/facedemo/photos (identity/, liveness/); empty: the demo's own photos, built into the binary")
	flag.StringVar(&o.Models, "models", "models", "models directory filled by `make models`")
	flag.StringVar(&o.Bin, "bin", "bin", "directory holding faceagent and facegateway")
	flag.BoolVar(&o.Keep, "keep", false, "keep the work directory (configs, logs, database) after the run")
	flag.BoolVar(&o.Verbose, "v", false, "stream the services' logs to stderr")
	flag.BoolVar(&o.Defaults, "defaults", false, "use the product's status-poll defaults instead of the demo's faster ones (for latency measurements)")
	flag.Float64Var(&o.FPS, "fps", 0, "replay camera frame rate (0: the demo's 10)")
	flag.BoolVar(&o.Warmup, "warmup", false, "run one unmeasured verification first (the reference photo itself: REJECTED, REFERENCE_REPLAY)")
	flag.DurationVar(&o.Window, "window", 0, "agent capture window (0: the demo's 2s; longer for an emulated agent)")
	flag.IntVar(&o.Repeat, "repeat", 1, "run the scenarios this many times and print command → EXIT p50/p90 per scenario")
	flag.BoolVar(&o.Timeline, "timeline", false, "print each verification's timeline (the agent's phase marks, ms since the command) and per-phase p50/p90 with the gateway's processing stages and the load average")
	only := flag.String("only", "", "comma-separated scenarios to run (genuine, impostor, presentation attack); empty: all")
	flag.Parse()
	if *only != "" {
		o.Only = strings.Split(*only, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "facedemo:", err)
		os.Exit(1)
	}
}
