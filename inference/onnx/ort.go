//go:build cgo

package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

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

// ortSessions prepares ONNX Runtime for cfg (the library, checked against
// the manifest when pinned; the session options) and returns the session
// maker, a release function for the options, and log attributes.
func ortSessions(cfg inference.Config, man models.Manifest) (sessionMaker, func(), []any, error) {
	lib := cfg.ORTLibrary
	if lib == "" {
		rel := models.ORTLibrary()
		if rel == "" {
			return nil, nil, nil, fmt.Errorf("%w: ONNX inference needs the ONNX Runtime shared library (libonnxruntime.so) and none is pinned for %s/%s; install one built for this board and set inference.ort_library to its path, or set inference.engine = \"go\"",
				ErrNoRuntime, runtime.GOOS, runtime.GOARCH)
		}
		if err := man.Verify(cfg.ModelsDir, rel); err != nil {
			var me *models.MissingError
			if errors.As(err, &me) {
				me.What, me.Setting = "ONNX Runtime library", "inference.models_dir"
				return nil, nil, nil, me
			}
			return nil, nil, nil, fmt.Errorf("ONNX Runtime library: %w (run `make models`)", err)
		}
		lib = filepath.Join(cfg.ModelsDir, rel)
	}
	if err := initEnvironment(lib); err != nil {
		return nil, nil, nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("session options: %w", err)
	}
	fail := func(err error) (sessionMaker, func(), []any, error) {
		opts.Destroy()
		return nil, nil, nil, err
	}
	if cfg.IntraOpThreads > 0 {
		if err := opts.SetIntraOpNumThreads(cfg.IntraOpThreads); err != nil {
			return fail(fmt.Errorf("intra-op threads: %w", err))
		}
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return fail(fmt.Errorf("inter-op threads: %w", err))
	}
	// Each session has its own intra-op thread pool. With spinning on (the
	// runtime default) the idle pools of the other three models busy-wait
	// after every run and steal the CPU from the one running: on 2 cores a
	// whole Analyze took 44 ms instead of ~20 ms.
	if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
		return fail(fmt.Errorf("disable thread spinning: %w", err))
	}
	mk := func(name string, data []byte, st models.Settings, inShape []int64, outShapes [][]int64) (*session, error) {
		return newSession(name, data, opts, st, inShape, outShapes)
	}
	return mk, func() { opts.Destroy() }, []any{"engine", inference.EngineORT, "ort_library", lib, "ort_version", ort.GetVersion(), "intra_op_threads", cfg.IntraOpThreads}, nil
}

// ortBackend is one ONNX Runtime session and its tensors.
type ortBackend struct {
	s    *ort.AdvancedSession
	in   *ort.Tensor[float32]
	outs []*ort.Tensor[float32]
}

func (b *ortBackend) run() error { return b.s.Run() }

func (b *ortBackend) destroy() {
	if b.s != nil {
		b.s.Destroy()
		b.s = nil
	}
	if b.in != nil {
		b.in.Destroy()
		b.in = nil
	}
	for _, t := range b.outs {
		t.Destroy()
	}
	b.outs = nil
}

// newSession creates an ONNX Runtime session for model bytes data with one
// float32 input of inShape and float32 outputs of outShapes.
func newSession(name string, data []byte, opts *ort.SessionOptions, st models.Settings, inShape []int64, outShapes [][]int64) (*session, error) {
	if len(st.Outputs) != len(outShapes) {
		return nil, fmt.Errorf("%s: manifest lists %d outputs, engine reads %d", name, len(st.Outputs), len(outShapes))
	}
	b := &ortBackend{}
	var err error
	if b.in, err = ort.NewEmptyTensor[float32](ort.NewShape(inShape...)); err != nil {
		return nil, fmt.Errorf("%s: input tensor: %w", name, err)
	}
	ins := []ort.Value{b.in}
	var outs []ort.Value
	for _, sh := range outShapes {
		t, err := ort.NewEmptyTensor[float32](ort.NewShape(sh...))
		if err != nil {
			b.destroy()
			return nil, fmt.Errorf("%s: output tensor: %w", name, err)
		}
		b.outs = append(b.outs, t)
		outs = append(outs, t)
	}
	b.s, err = ort.NewAdvancedSessionWithONNXData(data, []string{st.Input}, st.Outputs, ins, outs, opts)
	if err != nil {
		b.destroy()
		return nil, fmt.Errorf("%s: create session: %w", name, err)
	}
	s := &session{name: name, in: b.in.GetData(), be: b}
	for _, t := range b.outs {
		s.outs = append(s.outs, t.GetData())
	}
	return s, nil
}
