package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/cli"
	"github.com/faceverify/faceverify/inference/onnx"
)

const inspectUsage = `usage: faceagent inspect [--json] [--config FILE] [--models DIR] [--annotate DIR] IMAGE...

Detects faces, liveness and the decision for each JPEG/PNG image. Flags may
come before or after the images; after "--" every argument is an image.
  --json          one JSON object per image: file, width, height, faces
                  [{box [x,y,w,h] px, score, liveness, live}], decision, error
  --config FILE   TOML file whose [inference] table overrides the defaults
  --models DIR    models directory (overrides inference.models_dir)
  --annotate DIR  write each image as PNG with boxes, landmarks and scores

Exit status: 0 every image was read, 1 some image could not be read (or the
models could not be loaded), 2 usage error.
`

// inspectMain runs `faceagent inspect` and returns the exit status.
func inspectMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, inspectUsage) }
	asJSON := fs.Bool("json", false, "")
	configPath := fs.String("config", "", "")
	modelsDir := fs.String("models", "", "")
	annotate := fs.String("annotate", "", "")
	files, err := cli.ParseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(files) == 0 {
		fmt.Fprint(stderr, "faceagent inspect: no images given\n"+inspectUsage)
		return 2
	}
	cfg, err := cli.LoadConfig(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "faceagent inspect:", err)
		return 2
	}
	if *modelsDir != "" {
		cfg.ModelsDir = *modelsDir
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := onnx.New(cfg, logger)
	if err != nil {
		fmt.Fprintln(stderr, "faceagent inspect:", err)
		return 1
	}
	defer eng.Close()
	return inspectFiles(ctx, eng, cfg, files, *asJSON, *annotate, stdout, stderr)
}

// inspectFiles reports every file on stdout and returns the exit status.
func inspectFiles(ctx context.Context, a inference.Analyzer, cfg inference.Config, files []string, asJSON bool, annotateDir string, stdout, stderr io.Writer) int {
	enc := json.NewEncoder(stdout)
	used := map[string]bool{}
	status := 0
	for _, file := range files {
		rep, img, an, err := cli.Analyze(ctx, a, cfg, file, inference.Options{Liveness: true})
		if err != nil {
			fmt.Fprintln(stderr, "faceagent inspect:", err)
			return 1
		}
		if !rep.Read() {
			status = 1
		}
		if asJSON {
			if err := enc.Encode(rep); err != nil {
				fmt.Fprintln(stderr, "faceagent inspect:", err)
				return 1
			}
		} else {
			fmt.Fprintln(stdout, rep.Line())
		}
		if annotateDir != "" && img != nil {
			if _, err := cli.WriteAnnotated(annotateDir, file, img, an, used); err != nil {
				fmt.Fprintln(stderr, "faceagent inspect:", err)
				status = 1
			}
		}
	}
	return status
}
