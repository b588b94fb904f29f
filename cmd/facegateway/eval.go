package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/faceverify/faceverify/gateway/eval"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/cli"
	"github.com/faceverify/faceverify/inference/onnx"
)

const evalUsage = `usage: facegateway eval [flags] SET_DIR

Runs every image of a labelled set through the gateway's decision path and
reports the error rates of its two decisions: 1:1 matching (FMR, FNMR, EER,
FNMR at FMR = 1e-2 and 1e-3, a threshold sweep; ISO/IEC 19795-1) and passive
liveness (APCER per attack type, BPCER, ACER, a sweep; ISO/IEC 30107-3).
With no error observed a rate is reported with its 95 % upper bound 3/N.

SET_DIR holds labels.csv (+ pairs.csv), the layout of ../shared/testdata,
or one folder of images per person. The Markdown report goes to stdout,
progress to stderr.
  --config FILE    TOML file whose [inference] table overrides the defaults
  --compare FILE   a second config: both are run and shown side by side
  --models DIR     models directory (overrides inference.models_dir)
  --all-pairs      compare every pair of identity images, not pairs.csv
  --out DIR        also write report.md, report.json and the DET and
                   histogram PNGs there (created if missing)
  --json           JSON on stdout instead of Markdown
  --jitter         also score each counted liveness sample under ±10 % crop
                   jitter (15 crops) and report margin and spread
  --guard          exit 1 when the (first) configuration makes any error at
                   its thresholds on the set (failures to acquire excepted)
  --quiet          no progress lines

Exit status: 0 done (and, with --guard, no error), 1 failure or guard
tripped, 2 usage error.
`

// evalMain runs `facegateway eval` and returns the exit status.
func evalMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, evalUsage) }
	configPath := fs.String("config", "", "")
	comparePath := fs.String("compare", "", "")
	modelsDir := fs.String("models", "", "")
	allPairs := fs.Bool("all-pairs", false, "")
	outDir := fs.String("out", "", "")
	asJSON := fs.Bool("json", false, "")
	guard := fs.Bool("guard", false, "")
	quiet := fs.Bool("quiet", false, "")
	jitter := fs.Bool("jitter", false, "")
	pos, err := cli.ParseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprint(stderr, "facegateway eval: need one set directory\n"+evalUsage)
		return 2
	}
	set, err := eval.LoadSet(pos[0], *allPairs)
	if err != nil {
		fmt.Fprintln(stderr, "facegateway eval:", err)
		return 2
	}
	paths := []string{*configPath}
	if *comparePath != "" {
		paths = append(paths, *comparePath)
	}
	var cfgs []inference.Config
	for _, p := range paths {
		cfg, err := cli.LoadConfig(p)
		if err != nil {
			fmt.Fprintln(stderr, "facegateway eval:", err)
			return 2
		}
		if *modelsDir != "" {
			cfg.ModelsDir = *modelsDir
		}
		cfgs = append(cfgs, cfg)
	}
	var progress io.Writer
	if !*quiet {
		progress = stderr
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var reps []eval.Named
	for i, cfg := range cfgs {
		name := "defaults"
		if paths[i] != "" {
			name = paths[i]
		}
		if len(cfgs) > 1 && !*quiet {
			fmt.Fprintf(stderr, "eval: configuration %d of %d: %s\n", i+1, len(cfgs), name)
		}
		rep, err := evalOne(ctx, cfg, logger, set, eval.Options{Progress: progress, Jitter: *jitter})
		if err != nil {
			fmt.Fprintln(stderr, "facegateway eval:", err)
			return 1
		}
		reps = append(reps, eval.Named{Name: name, Report: rep})
	}
	return writeEval(reps, *outDir, *asJSON, *guard, stdout, stderr)
}

// evalOne runs the set on a fresh engine for cfg.
func evalOne(ctx context.Context, cfg inference.Config, logger *slog.Logger, set eval.Set, opt eval.Options) (*eval.Report, error) {
	eng, err := onnx.New(cfg, logger)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	return eval.Run(ctx, eng, cfg, set, opt)
}

// writeEval prints and saves the reports and applies the guard.
func writeEval(reps []eval.Named, outDir string, asJSON, guard bool, stdout, stderr io.Writer) int {
	if outDir != "" {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			fmt.Fprintln(stderr, "facegateway eval:", err)
			return 1
		}
		md, err := os.Create(filepath.Join(outDir, "report.md"))
		if err == nil {
			err = eval.WriteMarkdown(md, reps)
			if cerr := md.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil {
			err = writeJSONFile(filepath.Join(outDir, "report.json"), reps)
		}
		if err == nil {
			var files []string
			files, err = eval.WritePlots(outDir, reps)
			for _, f := range files {
				fmt.Fprintln(stderr, "eval: wrote", f)
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "facegateway eval:", err)
			return 1
		}
		fmt.Fprintln(stderr, "eval: wrote", filepath.Join(outDir, "report.md"), "and report.json")
	}
	var err error
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(reps)
	} else {
		err = eval.WriteMarkdown(stdout, reps)
	}
	if err != nil {
		fmt.Fprintln(stderr, "facegateway eval:", err)
		return 1
	}
	if guard {
		if n := reps[0].Report.Errors(); n > 0 {
			fmt.Fprintf(stderr, "facegateway eval: guard: %d wrong decision(s) at the configured thresholds (match %v, liveness %v)\n",
				n, reps[0].Report.Thresholds.Match, reps[0].Report.Thresholds.Liveness)
			return 1
		}
		fmt.Fprintln(stderr, "eval: guard: no wrong decision at the configured thresholds")
	}
	return 0
}

func writeJSONFile(path string, v any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
