// Package cli holds the logic of the `faceagent inspect` and
// `facegateway match` tools: config loading, per-image reports in the wire
// vocabulary, the match verdict and annotated images. It has no cgo; the
// commands pass in an inference.Analyzer (inference/onnx in production).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"io/fs"
	"math"
	"os"
	"strings"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/conf"
)

// LoadConfig returns inference.DefaultConfig overlaid with the [inference]
// table of the TOML file at path (other tables are ignored, so the agent's
// and the gateway's config files both work). An empty path returns the
// defaults. Without match_threshold the threshold is the embedder's
// (inference.DefaultMatchThreshold). The table is decoded strictly (internal/conf): unknown keys are
// errors naming the dotted key and its line, invalid values errors naming
// the dotted field.
func LoadConfig(path string) (inference.Config, error) {
	cfg := inference.DefaultConfig()
	if path == "" {
		return cfg, nil
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	doc := struct {
		Inference *inference.Config `toml:"inference"`
	}{Inference: &cfg}
	md, err := conf.Decode(string(text), &doc, conf.Options{Only: []string{"inference"}})
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.ApplyEmbedderDefaults(md.IsDefined("inference", "match_threshold"))
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// FaceReport is one face of an ImageReport.
type FaceReport struct {
	// Box is [x, y, w, h] in pixels of the upright image, rounded.
	Box [4]int `json:"box"`
	// Score is the detector confidence, 0–1.
	Score float64 `json:"score"`
	// Liveness is the probability live, 0–1; null when not computed (faces
	// other than the subject).
	Liveness *float64 `json:"liveness"`
	// Live is Liveness ≥ the configured threshold.
	Live bool `json:"live"`
}

// ImageReport is the `inspect --json` object of one image.
type ImageReport struct {
	File     string             `json:"file"`
	Width    int                `json:"width,omitempty"`
	Height   int                `json:"height,omitempty"`
	Faces    []FaceReport       `json:"faces"`
	Decision inference.Decision `json:"decision"`
	// Error describes why the image could not be read; empty otherwise.
	Error string `json:"error,omitempty"`
}

// Read reports whether the image was readable (no DECODE_ERROR/TOO_LARGE).
func (r ImageReport) Read() bool { return r.Error == "" }

// Analyze decodes the file at path (limits from cfg) and analyses it with
// opts. Unreadable files (missing, corrupt, too large) give a report with
// Error set and a nil image; err is non-nil only for runtime failures.
func Analyze(ctx context.Context, a inference.Analyzer, cfg inference.Config, path string, opts inference.Options) (ImageReport, image.Image, inference.Analysis, error) {
	rep := ImageReport{File: path, Faces: []FaceReport{}}
	f, err := os.Open(path)
	if err != nil {
		rep.Decision, rep.Error = inference.DecisionDecodeError, openError(err)
		return rep, nil, inference.Analysis{Subject: -1}, nil
	}
	defer f.Close()
	img, err := inference.DecodeLimits(f, cfg.MaxPixels, cfg.MaxBytes)
	if err != nil {
		d := inference.DecisionForError(err)
		if d == "" {
			d = inference.DecisionDecodeError
		}
		rep.Decision, rep.Error = d, err.Error()
		return rep, nil, inference.Analysis{Subject: -1}, nil
	}
	an, err := a.Analyze(ctx, img, opts)
	if err != nil {
		return rep, img, an, fmt.Errorf("%s: %w", path, err)
	}
	rep.Width, rep.Height, rep.Decision = an.Width, an.Height, an.Decision
	for _, fc := range an.Faces {
		fr := FaceReport{
			Box:   [4]int{round(fc.Box.X), round(fc.Box.Y), round(fc.Box.W), round(fc.Box.H)},
			Score: round3(fc.Score),
			Live:  fc.Live,
		}
		if fc.Liveness >= 0 {
			l := round3(fc.Liveness)
			fr.Liveness = &l
		}
		rep.Faces = append(rep.Faces, fr)
	}
	return rep, img, an, nil
}

func openError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// Line is the human-readable one-line summary of a report.
func (r ImageReport) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", r.File, r.Decision)
	if r.Error != "" {
		fmt.Fprintf(&b, " (%s)", r.Error)
		return b.String()
	}
	fmt.Fprintf(&b, " %dx%d, %d face(s)", r.Width, r.Height, len(r.Faces))
	for i, f := range r.Faces {
		sep := ";"
		if i == 0 {
			sep = ":"
		}
		fmt.Fprintf(&b, "%s box=[%d,%d,%d,%d] score=%.2f", sep, f.Box[0], f.Box[1], f.Box[2], f.Box[3], f.Score)
		if f.Liveness != nil {
			fmt.Fprintf(&b, " liveness=%.2f live=%v", *f.Liveness, f.Live)
		}
	}
	return b.String()
}

// MatchResult is the `match --json` object. Either Similarity, Threshold
// and Match are set, or Match is false with Reason (NO_FACE,
// MULTIPLE_FACES, LOW_QUALITY, DECODE_ERROR, TOO_LARGE) and File naming the
// image without a usable face.
type MatchResult struct {
	Similarity *float64           `json:"similarity,omitempty"`
	Threshold  *float64           `json:"threshold,omitempty"`
	Match      bool               `json:"match"`
	Reason     inference.Decision `json:"reason,omitempty"`
	File       string             `json:"file,omitempty"`
	Error      string             `json:"error,omitempty"`
	// Unreadable is true when Reason is DECODE_ERROR or TOO_LARGE.
	Unreadable bool `json:"-"`
}

// Match analyses both files (embedding, no liveness: match compares
// identities) and compares the subjects' embeddings by cosine similarity
// against cfg.MatchThreshold. An image counts as usable when its decision
// is OK; the first unusable one is reported as the reason.
func Match(ctx context.Context, a inference.Analyzer, cfg inference.Config, fileA, fileB string) (MatchResult, error) {
	var embs [2][]float32
	for i, path := range []string{fileA, fileB} {
		rep, _, an, err := Analyze(ctx, a, cfg, path, inference.Options{Embed: true})
		if err != nil {
			return MatchResult{}, err
		}
		if rep.Decision != inference.DecisionOK {
			return MatchResult{Reason: rep.Decision, File: path, Error: rep.Error, Unreadable: !rep.Read()}, nil
		}
		if an.Subject < 0 || len(an.Faces[an.Subject].Embedding) == 0 {
			return MatchResult{}, fmt.Errorf("%s: OK decision without an embedding", path)
		}
		embs[i] = an.Faces[an.Subject].Embedding
	}
	raw := inference.Cosine(embs[0], embs[1])
	sim, thr := math.Round(raw*1e4)/1e4, cfg.MatchThreshold
	return MatchResult{Similarity: &sim, Threshold: &thr, Match: raw >= thr}, nil
}

func round(v float64) int { return int(math.Round(v)) }

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// ParseInterspersed parses args with fs, allowing flags between and after
// the positional arguments (`inspect a.jpg --json b.jpg`), and returns the
// positional ones in order. "--" ends the flags: every argument after it is
// positional, even one starting with '-'. A lone "-" is positional. Errors
// are fs.Parse's (flag.ErrHelp for -h).
func ParseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
