// Command faceagent is the kiosk's device agent.
//
//	faceagent run [--config FILE]   run the agent until SIGINT/SIGTERM
//	faceagent inspect [flags] IMAGE...  analyse images (see inspect.go)
//	faceagent version
//
// Exit status: 0 ok, 1 runtime error, 2 usage or configuration error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/oklog/run"

	"github.com/faceverify/faceverify/agent"
	"github.com/faceverify/faceverify/agent/config"
	"github.com/faceverify/faceverify/agent/host"
	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/capture/replay"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/onnx"
	"github.com/faceverify/faceverify/internal/sigctx"
	"github.com/faceverify/faceverify/uplink"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

// configFile is the --config path of run, read again by reload-config.
var configFile string

const usage = `usage: faceagent <command> [flags]

Commands:
  run [--config FILE]   run the device agent (SIGINT/SIGTERM stop it cleanly;
                        a second signal aborts)
  inspect [flags] IMAGE...
                        analyse images: faces, liveness, decision
  camera list|grab|selftest [flags]
                        V4L2 cameras: list formats, grab frames, self-test
  enroll [--config FILE] [--gateway URL] [--print]
                        create the device key and register it with the
                        gateway (token from FACEAGENT_ENROLL_TOKEN)
  version               print the version

Exit status: 0 ok, 1 runtime error, 2 usage or configuration error.
`

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runMain(args[1:], stderr)
	case "inspect":
		ctx, stop := sigctx.New("faceagent", stderr)
		defer stop()
		return inspectMain(ctx, args[1:], stdout, stderr)
	case "camera":
		ctx, stop := sigctx.New("faceagent", stderr)
		defer stop()
		return cameraMain(ctx, args[1:], stdout, stderr)
	case "enroll":
		ctx, stop := sigctx.New("faceagent", stderr)
		defer stop()
		return enrollMain(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "faceagent", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "faceagent: unknown command %q\n%s", args[0], usage)
	return 2
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func runMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "TOML config file (defaults when empty)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "faceagent run: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg, err := config.Load(*configPath)
	configFile = *configPath
	if err != nil {
		fmt.Fprintln(stderr, "faceagent run:", err)
		return 2
	}
	logger, level := newLogger(cfg.Log, stderr)
	ctx, stop := sigctx.New("faceagent", stderr)
	defer stop()
	if err := runAgent(ctx, cfg, logger, level); err != nil {
		logger.Error("faceagent stopped", "err", err)
		return exitCode(err) // 2 for a setup error from the configuration (exitcode.go)
	}
	return 0
}

// newLogger is the daemon's logger at log.level and log.format; the level
// is a LevelVar so that reload-config can change it live.
func newLogger(c config.LogConfig, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(strings.ToUpper(c.Level)))
	level := new(slog.LevelVar)
	level.Set(lvl)
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), level
	}
	return slog.New(slog.NewTextHandler(w, opts)), level
}

// runAgent wires the agent from cfg and runs it until ctx ends; level is
// the logger's level, which reload-config changes (log.level).
// Cancellation is not an error.
func runAgent(ctx context.Context, cfg config.Config, logger *slog.Logger, level *slog.LevelVar) error {
	logger.Info("faceagent starting", "version", versionString(), "device_id", cfg.Device.ID)

	engine, err := onnx.New(cfg.Inference, logger.With("component", "inference"))
	if err != nil {
		return setupError(fmt.Errorf("inference: %w", err))
	}
	defer engine.Close()

	src, err := newSource(cfg, logger)
	if err != nil {
		return setupError(err)
	}
	leds, closeLEDs := newLEDs(cfg.LED, logger)
	defer closeLEDs()
	gw, sp, err := newUplink(cfg, logger) // device key, signing, offline spool (device.go)
	if err != nil {
		return setupError(err)
	}

	var pub uplink.Publisher = uplink.Discard{}
	mc, err := agent.NewMQTTClient(cfg, versionString(), logger) // nil without mqtt.broker
	if err != nil {
		return setupError(err)
	}
	if mc != nil {
		pub = mc
	} else {
		logger.Info("mqtt disabled (mqtt.broker is empty)")
	}

	a, err := agent.New(cfg, agent.Deps{
		Source: src, Analyzer: engine, Gateway: gw, Publisher: pub, LEDs: leds, Logger: logger,
		Service: host.NewSystemd(logger), Spool: sp,
	})
	if err != nil {
		return setupError(err)
	}

	// The agent stops first (a running session is reported as cancelled),
	// then MQTT drains its queue, publishes "offline" and disconnects.
	actx, acancel := context.WithCancel(ctx)
	defer acancel()
	agentDone := make(chan struct{})
	var g run.Group
	g.Add(func() error {
		defer close(agentDone)
		return a.Run(actx)
	}, func(error) { acancel() })
	if mc != nil {
		health := a.ServeFleet(mc, agent.FleetOptions{ConfigPath: configFile, LogLevel: level}) // commands, telemetry, status
		g.Add(func() error { return health(actx) }, func(error) { acancel() })
		mctx, mcancel := context.WithCancel(context.Background())
		defer mcancel()
		g.Add(func() error { return mc.Run(mctx) }, func(error) {
			acancel()
			select {
			case <-agentDone:
			case <-time.After(10 * time.Second):
			}
			mcancel()
		})
	}
	return g.Run()
}

// newSource builds the camera named by capture.source.
func newSource(cfg config.Config, logger *slog.Logger) (capture.Source, error) {
	switch cfg.Capture.Source {
	case "replay":
		maxPixels, maxBytes := cfg.Inference.MaxPixels, cfg.Inference.MaxBytes
		return replay.New(replay.Options{
			Path: cfg.Capture.ReplayPath,
			FPS:  cfg.Capture.FPS,
			Loop: cfg.Capture.Loop,
			Decode: func(r io.Reader) (image.Image, error) {
				return inference.DecodeLimits(r, maxPixels, maxBytes)
			},
			MaxFileBytes: maxBytes,
			Logger:       logger,
		})
	case "v4l2":
		return newV4L2Source(cfg, logger) // camera.go
	}
	return nil, fmt.Errorf("capture.source %q: unsupported", cfg.Capture.Source)
}
