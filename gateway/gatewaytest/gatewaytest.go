// Package gatewaytest holds fakes for testing the gateway and its clients
// without models: an inference.Analyzer scripted by image colour, and helpers
// that make tiny PNG images of a given colour.
//
// A test makes a selfie with PNG(Red), scripts Analyzer.Set(Red, Live(E(0)))
// and the gateway, decoding the PNG with the real inference.Decode, gets that
// Analysis back.
package gatewaytest

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"sync"

	"github.com/faceverify/faceverify/inference"
)

// Colours used by tests to name images.
var (
	Red    = color.RGBA{200, 30, 30, 255}
	Green  = color.RGBA{30, 200, 30, 255}
	Blue   = color.RGBA{30, 30, 200, 255}
	Yellow = color.RGBA{200, 200, 30, 255}
	Grey   = color.RGBA{128, 128, 128, 255}
)

// PNG returns an 8×8 PNG filled with c.
func PNG(c color.RGBA) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err) // encoding an in-memory RGBA cannot fail
	}
	return buf.Bytes()
}

// EmbeddingDim is the length of the fake embeddings (as fr_feature.onnx).
const EmbeddingDim = 512

// E returns the unit embedding along axis i: E(i)·E(i) = 1, E(i)·E(j) = 0.
func E(i int) []float32 {
	e := make([]float32, EmbeddingDim)
	e[i%EmbeddingDim] = 1
	return e
}

// Live is an OK analysis of one live face with the given embedding
// (liveness 0.95).
func Live(embedding []float32) inference.Analysis {
	return inference.Analysis{
		Width: 8, Height: 8, Decision: inference.DecisionOK, Subject: 0,
		Faces: []inference.Face{{
			Box: inference.Box{X: 1, Y: 1, W: 6, H: 6}, Score: 0.99,
			Liveness: 0.95, Live: true, Embedding: embedding,
		}},
	}
}

// Spoof is a LIVENESS_FAILED analysis of one face with liveness 0.05.
func Spoof(embedding []float32) inference.Analysis {
	a := Live(embedding)
	a.Decision = inference.DecisionLivenessFailed
	a.Faces[0].Liveness, a.Faces[0].Live = 0.05, false
	return a
}

// NoFace is a NO_FACE analysis.
func NoFace() inference.Analysis {
	return inference.Analysis{Width: 8, Height: 8, Decision: inference.DecisionNoFace, Subject: -1}
}

// Call records one Analyze call.
type Call struct {
	Color   color.RGBA
	Options inference.Options
}

// Analyzer is a fake inference.Analyzer answering by the colour of the
// image's top-left pixel. Unknown colours answer NoFace. It honours Options:
// without Liveness the faces' Liveness is -1, without Embed their Embedding
// is nil. Safe for concurrent use.
type Analyzer struct {
	mu      sync.Mutex
	byColor map[color.RGBA]inference.Analysis
	calls   []Call
	// Hook, when set, runs first on every call; a non-nil error is
	// returned as a runtime failure. Tests use it to block or fail.
	Hook func(ctx context.Context, c color.RGBA, opts inference.Options) error
}

// NewAnalyzer returns an Analyzer with no script.
func NewAnalyzer() *Analyzer {
	return &Analyzer{byColor: map[color.RGBA]inference.Analysis{}}
}

// Set scripts the answer for images of colour c.
func (a *Analyzer) Set(c color.RGBA, an inference.Analysis) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byColor[c] = an
}

// Calls returns the calls so far.
func (a *Analyzer) Calls() []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Call(nil), a.calls...)
}

// Analyze implements inference.Analyzer.
func (a *Analyzer) Analyze(ctx context.Context, img image.Image, opts inference.Options) (inference.Analysis, error) {
	b := img.Bounds()
	r, g, bl, al := img.At(b.Min.X, b.Min.Y).RGBA()
	c := color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(al >> 8)}
	a.mu.Lock()
	a.calls = append(a.calls, Call{c, opts})
	an, ok := a.byColor[c]
	hook := a.Hook
	a.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, c, opts); err != nil {
			return inference.Analysis{}, err
		}
	}
	if !ok {
		an = NoFace()
	}
	faces := make([]inference.Face, len(an.Faces))
	copy(faces, an.Faces)
	for i := range faces {
		if !opts.Liveness {
			faces[i].Liveness, faces[i].Live = -1, false
		}
		if !opts.Embed {
			faces[i].Embedding = nil
		}
	}
	an.Faces = faces
	if !opts.Liveness && an.Decision == inference.DecisionLivenessFailed {
		an.Decision = inference.DecisionOK
	}
	return an, nil
}
