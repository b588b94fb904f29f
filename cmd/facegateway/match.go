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

const matchUsage = `usage: facegateway match [--json] [--config FILE] [--models DIR] IMAGE_A IMAGE_B

Compares the faces of two JPEG/PNG images by cosine similarity of their
embeddings. Prints {"similarity","threshold","match"}, or {"match":false,
"reason","file"} when an image has no usable face (NO_FACE, MULTIPLE_FACES,
LOW_QUALITY, DECODE_ERROR, TOO_LARGE). Flags may come before or after the
images; after "--" every argument is an image.
  --json          JSON output (default: one readable line)
  --config FILE   TOML file whose [inference] table overrides the defaults
  --models DIR    models directory (overrides inference.models_dir)

Exit status: 0 both images were read, 1 an image could not be read (or the
models could not be loaded), 2 usage error.
`

// matchMain runs `facegateway match` and returns the exit status.
func matchMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("match", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, matchUsage) }
	asJSON := fs.Bool("json", false, "")
	configPath := fs.String("config", "", "")
	modelsDir := fs.String("models", "", "")
	files, err := cli.ParseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(files) != 2 {
		fmt.Fprint(stderr, "facegateway match: need exactly two images\n"+matchUsage)
		return 2
	}
	cfg, err := cli.LoadConfig(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "facegateway match:", err)
		return 2
	}
	if *modelsDir != "" {
		cfg.ModelsDir = *modelsDir
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := onnx.New(cfg, logger)
	if err != nil {
		fmt.Fprintln(stderr, "facegateway match:", err)
		return 1
	}
	defer eng.Close()
	return matchFiles(ctx, eng, cfg, files[0], files[1], *asJSON, stdout, stderr)
}

// matchFiles prints the verdict for two files and returns the exit status.
func matchFiles(ctx context.Context, a inference.Analyzer, cfg inference.Config, fileA, fileB string, asJSON bool, stdout, stderr io.Writer) int {
	res, err := cli.Match(ctx, a, cfg, fileA, fileB)
	if err != nil {
		fmt.Fprintln(stderr, "facegateway match:", err)
		return 1
	}
	if asJSON {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			fmt.Fprintln(stderr, "facegateway match:", err)
			return 1
		}
	} else if res.Reason != "" {
		fmt.Fprintf(stdout, "no match: %s in %s", res.Reason, res.File)
		if res.Error != "" {
			fmt.Fprintf(stdout, " (%s)", res.Error)
		}
		fmt.Fprintln(stdout)
	} else {
		fmt.Fprintf(stdout, "similarity %.4f, threshold %.2f: match=%v\n", *res.Similarity, *res.Threshold, res.Match)
	}
	if res.Unreadable {
		return 1
	}
	return 0
}
