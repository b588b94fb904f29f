package onnx

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/models"
)

// env guards the process-wide ONNX Runtime environment: it is initialised
// once, by the first New, and kept for the life of the process (ONNX Runtime
// allows one environment per process and one shared library).
var env struct {
	sync.Mutex
	lib string
}

func initEnvironment(lib string) error {
	env.Lock()
	defer env.Unlock()
	if real, err := filepath.EvalSymlinks(lib); err == nil {
		lib = real
	}
	if abs, err := filepath.Abs(lib); err == nil {
		lib = abs
	}
	if _, err := os.Stat(lib); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &models.MissingError{What: "ONNX Runtime library", Path: lib,
				Hint: "set inference.ort_library to the path of libonnxruntime.so, or leave it empty to use the pinned one from `make models`"}
		}
		return fmt.Errorf("onnxruntime library: %w", err)
	}
	if ort.IsInitialized() {
		if env.lib != lib {
			return fmt.Errorf("onnxruntime already initialised from %s; cannot switch to %s", env.lib, lib)
		}
		return nil
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("initialise onnxruntime from %s: %w", lib, err)
	}
	env.lib = lib
	return nil
}

// readVerified reads dir/dest and checks it against the manifest's sha256,
// so the bytes that were checked are the bytes loaded.
func readVerified(m models.Manifest, dir, dest string) ([]byte, error) {
	f, ok := m.Lookup(dest)
	if !ok {
		return nil, fmt.Errorf("%s: not in models manifest", dest)
	}
	path := filepath.Join(dir, dest)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		me := models.Missing(dir, dest)
		me.Setting = "inference.models_dir"
		return nil, me
	}
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != f.SHA256 {
		return nil, fmt.Errorf("%s: got %s, want %s: %w (run `make models` to fetch the pinned file)", path, got, f.SHA256, models.ErrChecksum)
	}
	return data, nil
}

// session is one ONNX Runtime session with its input and output tensors
// allocated once and reused by every run. mu serialises runs: the tensors
// are shared state, so one goroutine at a time fills the input, runs and
// reads the outputs.
type session struct {
	mu   sync.Mutex
	name string
	s    *ort.AdvancedSession
	in   *ort.Tensor[float32]
	outs []*ort.Tensor[float32]
	// busy is the wall time spent in Run since the session was made
	// (under mu): the model-call share of the benchmarks.
	busy time.Duration
}

// newSession creates a session for model bytes data with one float32 input
// of inShape and float32 outputs of outShapes.
func newSession(name string, data []byte, opts *ort.SessionOptions, st models.Settings, inShape []int64, outShapes [][]int64) (*session, error) {
	if len(st.Outputs) != len(outShapes) {
		return nil, fmt.Errorf("%s: manifest lists %d outputs, engine reads %d", name, len(st.Outputs), len(outShapes))
	}
	s := &session{name: name}
	var err error
	if s.in, err = ort.NewEmptyTensor[float32](ort.NewShape(inShape...)); err != nil {
		return nil, fmt.Errorf("%s: input tensor: %w", name, err)
	}
	ins := []ort.Value{s.in}
	var outs []ort.Value
	for _, sh := range outShapes {
		t, err := ort.NewEmptyTensor[float32](ort.NewShape(sh...))
		if err != nil {
			s.destroy()
			return nil, fmt.Errorf("%s: output tensor: %w", name, err)
		}
		s.outs = append(s.outs, t)
		outs = append(outs, t)
	}
	s.s, err = ort.NewAdvancedSessionWithONNXData(data, []string{st.Input}, st.Outputs, ins, outs, opts)
	if err != nil {
		s.destroy()
		return nil, fmt.Errorf("%s: create session: %w", name, err)
	}
	return s, nil
}

// run executes the model on the current input tensor; the caller holds mu.
func (s *session) run() error {
	if s.s == nil {
		return fmt.Errorf("%s: engine closed", s.name)
	}
	t0 := time.Now()
	err := s.s.Run()
	s.busy += time.Since(t0)
	if err != nil {
		return fmt.Errorf("%s: run: %w", s.name, err)
	}
	return nil
}

func (s *session) destroy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s != nil {
		s.s.Destroy()
		s.s = nil
	}
	if s.in != nil {
		s.in.Destroy()
		s.in = nil
	}
	for _, t := range s.outs {
		t.Destroy()
	}
	s.outs = nil
}

// layoutOf converts manifest settings to a tensor layout, checking that they
// match the shape the engine was written for.
func layoutOf(name string, st models.Settings, w, h int, channels int) (inference.TensorLayout, error) {
	l := inference.TensorLayout{Width: st.Width, Height: st.Height, Order: inference.ChannelOrder(st.ChannelOrder), Mean: st.Mean, Scale: st.Scale}
	if !l.Order.Valid() {
		return l, fmt.Errorf("%s: manifest channel_order %q: want RGB, BGR or GRAY", name, st.ChannelOrder)
	}
	if l.Width != w || l.Height != h || l.Order.Channels() != channels {
		return l, fmt.Errorf("%s: manifest input %dx%dx%d, model needs %dx%dx%d", name, l.Order.Channels(), l.Height, l.Width, channels, h, w)
	}
	if l.Scale == 0 {
		return l, fmt.Errorf("%s: manifest scale must not be 0", name)
	}
	return l, nil
}
