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

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/models"
)

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

// session is one model run by a backend (ONNX Runtime or the pure-Go
// engine) with its input and output tensors allocated once and reused by
// every run: in and outs alias the backend's own buffers. mu serialises
// runs: the tensors are shared state, so one goroutine at a time fills the
// input, runs and reads the outputs.
type session struct {
	mu   sync.Mutex
	name string
	in   []float32
	outs [][]float32
	be   backend
	// busy is the wall time spent in run since the session was made
	// (under mu): the model-call share of the benchmarks.
	busy time.Duration
}

// backend runs a session's model on its in tensor into its outs.
type backend interface {
	run() error
	destroy()
}

// sessionMaker creates a session for model bytes data with one float32
// input of inShape and float32 outputs of outShapes.
type sessionMaker func(name string, data []byte, st models.Settings, inShape []int64, outShapes [][]int64) (*session, error)

// run executes the model on the current input tensor; the caller holds mu.
func (s *session) run() error {
	if s.be == nil {
		return fmt.Errorf("%s: engine closed", s.name)
	}
	t0 := time.Now()
	err := s.be.run()
	s.busy += time.Since(t0)
	if err != nil {
		return fmt.Errorf("%s: run: %w", s.name, err)
	}
	return nil
}

func (s *session) destroy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.be != nil {
		s.be.destroy()
		s.be = nil
	}
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
