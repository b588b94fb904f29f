// Package goengine is a pure-Go (no cgo) inference engine for the pinned
// faceverify models: it reads ONNX (onnxmodel) and TFLite (tflitemodel)
// files into one graph form (ir) and runs them with one set of float32
// kernels: im2col + blocked GEMM convolutions with a 1×1 fast path and a
// direct depthwise kernel, fused activations, SAME/VALID padding, fp16/int8
// weights dequantised at load, NHWC models converted to NCHW at load.
//
// A Model plans its activation memory once at load (one arena, buffers
// reused when their last reader has run) and then runs without allocating;
// kernels split their work across a process-wide pool of GOMAXPROCS
// goroutines. Only the operators the pinned models use are implemented; any
// other is a load-time *ir.OpError naming the operator and the model.
package goengine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/faceverify/faceverify/inference/goengine/ir"
	"github.com/faceverify/faceverify/inference/goengine/onnxmodel"
	"github.com/faceverify/faceverify/inference/goengine/tflitemodel"
)

type runner interface{ run() }

// port is a model input or output with its arena buffer.
type port struct {
	Name  string
	Shape []int
	buf   []float32
}

// Model is one compiled model. Run is safe for concurrent use (runs of one
// Model are serialised; use several Models for parallel runs).
type Model struct {
	name       string
	ops        map[string]int
	inputs     []port
	outputs    []port
	steps      []runner
	arena      []float32
	scratch    []float32
	arenaBytes int
	mu         sync.Mutex
}

// ErrShape is returned by Run when an input or output slice has the wrong
// length for the model.
var ErrShape = errors.New("tensor size does not match the model")

// ErrInvalid is returned by Load for a model whose graph is inconsistent in
// a way the checks before compilation did not catch.
var ErrInvalid = errors.New("invalid model graph")

// Load reads a model file (.onnx or .tflite, by extension) and compiles it.
func Load(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return LoadBytes(filepath.Base(path), data)
}

// LoadBytes compiles a model from its file contents; name (the file name)
// picks the reader by extension and names the model in errors.
func LoadBytes(name string, data []byte) (m *Model, err error) {
	defer func() {
		// A file that passes the readers' checks but trips a kernel's
		// assumptions must still give an error, never crash the process.
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("model %s: %w: %v", name, ErrInvalid, r)
		}
	}()
	var g *ir.Graph
	switch strings.ToLower(filepath.Ext(name)) {
	case ".onnx":
		g, err = onnxmodel.Read(name, data)
	case ".tflite":
		g, err = tflitemodel.Read(name, data)
	default:
		return nil, fmt.Errorf("model %s: unknown format (want .onnx or .tflite)", name)
	}
	if err != nil {
		return nil, err
	}
	return Compile(g)
}

// Name returns the model's name (its file name).
func (m *Model) Name() string { return m.name }

// Ops lists the operators of the model file with their counts, sorted, as
// "Conv×34"; TFLite operators appear under their ONNX-equivalent names.
func (m *Model) Ops() []string { return sortedOps(m.ops) }

// ArenaBytes is the size of the planned activation memory (arena plus
// im2col scratch) in bytes.
func (m *Model) ArenaBytes() int { return m.arenaBytes }

// FLOPs is the floating-point operations of one run counted over
// convolutions and dense layers (2 per multiply-add), the work that
// dominates every pinned model; elementwise operations are not counted.
func (m *Model) FLOPs() int64 {
	var f int64
	for _, s := range m.steps {
		switch k := s.(type) {
		case *convK:
			f += 2 * int64(k.n) * int64(k.m) * int64(k.c/k.group) * int64(k.kh*k.kw) * int64(k.oh*k.ow)
		case *denseK:
			f += 2 * int64(k.m) * int64(k.k) * int64(k.n)
		}
	}
	return f
}

// InputShape returns the shape of input i (as stored in the model file:
// NCHW for ONNX, NHWC for TFLite).
func (m *Model) InputShape(i int) []int { return m.inputs[i].Shape }

// OutputShape returns the shape of output i.
func (m *Model) OutputShape(i int) []int { return m.outputs[i].Shape }

// NumInputs and NumOutputs count the model's inputs and outputs.
func (m *Model) NumInputs() int  { return len(m.inputs) }
func (m *Model) NumOutputs() int { return len(m.outputs) }

// Run copies inputs (one float32 slice per model input, in model order and
// layout) into the model, runs it and copies the outputs into outputs (one
// slice per output, each of the output's element count). It does not
// allocate. Errors: ErrShape when a slice has the wrong length.
func (m *Model) Run(inputs, outputs [][]float32) error {
	if len(inputs) != len(m.inputs) || len(outputs) != len(m.outputs) {
		return fmt.Errorf("model %s: %w: %d inputs and %d outputs given, want %d and %d",
			m.name, ErrShape, len(inputs), len(outputs), len(m.inputs), len(m.outputs))
	}
	for i, in := range inputs {
		if len(in) != len(m.inputs[i].buf) {
			return fmt.Errorf("model %s: input %s: %w: %d values, want %d", m.name, m.inputs[i].Name, ErrShape, len(in), len(m.inputs[i].buf))
		}
	}
	for i, out := range outputs {
		if len(out) != len(m.outputs[i].buf) {
			return fmt.Errorf("model %s: output %s: %w: %d values, want %d", m.name, m.outputs[i].Name, ErrShape, len(out), len(m.outputs[i].buf))
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, in := range inputs {
		copy(m.inputs[i].buf, in)
	}
	for _, s := range m.steps {
		s.run()
	}
	for i, out := range outputs {
		copy(out, m.outputs[i].buf)
	}
	return nil
}
