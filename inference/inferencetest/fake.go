// Package inferencetest provides a fake inference.Analyzer for tests of
// code that consumes analyses (gateway, agent, tools) without models.
package inferencetest

import (
	"context"
	"image"

	"github.com/faceverify/faceverify/inference"
)

// Fake implements inference.Analyzer with a function. It is safe for
// concurrent use when Fn is.
type Fake struct {
	Fn func(ctx context.Context, img image.Image, opts inference.Options) (inference.Analysis, error)
}

// Analyze calls f.Fn.
func (f Fake) Analyze(ctx context.Context, img image.Image, opts inference.Options) (inference.Analysis, error) {
	return f.Fn(ctx, img, opts)
}

// OneFace returns an Analysis of a w×h image with a single face that
// passes every check: decision OK, liveness live (when opts.Liveness) and
// embedding emb (when opts.Embed), as the engine fills them.
func OneFace(w, h int, liveness float64, emb []float32, opts inference.Options) inference.Analysis {
	f := inference.Face{
		Box:      inference.Box{X: float64(w) / 4, Y: float64(h) / 4, W: float64(w) / 2, H: float64(h) / 2},
		Score:    0.99,
		Liveness: -1,
		Quality:  inference.Quality{FaceSize: float64(min(w, h)) / 2, Sharpness: 500, Brightness: 128},
	}
	if opts.Liveness {
		f.Liveness, f.Live = liveness, liveness >= inference.DefaultConfig().LivenessThreshold
	}
	if opts.Embed {
		f.Embedding = append([]float32(nil), emb...)
		f.Aligned = image.NewRGBA(image.Rect(0, 0, inference.ArcFaceSize, inference.ArcFaceSize))
	}
	d := inference.DecisionOK
	if opts.Liveness && !f.Live {
		d = inference.DecisionLivenessFailed
	}
	return inference.Analysis{Width: w, Height: h, Faces: []inference.Face{f}, Decision: d, Subject: 0}
}
