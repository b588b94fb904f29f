// Package capturetest holds a scripted fake capture.Source for tests: a list
// of frames and errors replayed on each Open, e.g. "two frames, then
// capture.ErrDeviceLost".
package capturetest

import (
	"context"
	"errors"
	"image"
	"image/color"
	"sync"
	"time"

	"github.com/faceverify/faceverify/capture"
)

// Step is one result of Next: a frame (Image set) or an error (Err set).
type Step struct {
	Image image.Image
	JPEG  []byte
	Err   error
}

// Source is a scripted capture.Source. Set the fields before the first
// Open; the counters are safe to read concurrently.
type Source struct {
	// Steps are replayed from the start on every Open; Seq restarts at 1.
	Steps []Step
	// PerOpen, when set, overrides Steps for the n-th Open (0-based); opens
	// past its end reuse its last element.
	PerOpen [][]Step
	// Repeat replays the steps forever; otherwise, after the last step, Next
	// returns capture.ErrClosed, or blocks until ctx ends when Hold is set.
	Repeat bool
	Hold   bool
	// OpenErr, if set, is returned by Open.
	OpenErr error
	// Now stamps Frame.At; time.Now if nil.
	Now func() time.Time

	mu     sync.Mutex
	steps  []Step
	pos    int
	seq    uint64
	open   bool
	opens  int
	closes int
	frames int
}

// Frame returns a w×h image filled with c, handy as a Step image.
func Frame(w, h int, c color.Color) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	return img
}

// Open starts the script.
func (s *Source) Open(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.opens
	s.opens++
	if s.OpenErr != nil {
		return s.OpenErr
	}
	s.steps = s.Steps
	if len(s.PerOpen) > 0 {
		s.steps = s.PerOpen[min(n, len(s.PerOpen)-1)]
	}
	s.pos, s.seq, s.open = 0, 0, true
	return nil
}

// Next returns the next scripted step.
func (s *Source) Next(ctx context.Context) (capture.Frame, error) {
	if err := ctx.Err(); err != nil {
		return capture.Frame{}, err
	}
	s.mu.Lock()
	if !s.open {
		s.mu.Unlock()
		return capture.Frame{}, capture.ErrClosed
	}
	if s.pos >= len(s.steps) && s.Repeat && len(s.steps) > 0 {
		s.pos = 0
	}
	if s.pos >= len(s.steps) {
		hold := s.Hold
		s.mu.Unlock()
		if hold {
			<-ctx.Done()
			return capture.Frame{}, ctx.Err()
		}
		return capture.Frame{}, capture.ErrClosed
	}
	st := s.steps[s.pos]
	s.pos++
	if st.Err != nil {
		s.mu.Unlock()
		return capture.Frame{}, st.Err
	}
	s.seq++
	s.frames++
	f := capture.Frame{Image: st.Image, JPEG: st.JPEG, Seq: s.seq}
	now := s.Now
	s.mu.Unlock()
	if now == nil {
		now = time.Now
	}
	f.At = now()
	return f, nil
}

// Close stops the script; it may be called twice.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open {
		s.closes++
	}
	s.open = false
	return nil
}

// Name returns "capturetest".
func (s *Source) Name() string { return "capturetest" }

// Opens returns how many times Open was called.
func (s *Source) Opens() int { s.mu.Lock(); defer s.mu.Unlock(); return s.opens }

// Closes returns how many open streams were closed.
func (s *Source) Closes() int { s.mu.Lock(); defer s.mu.Unlock(); return s.closes }

// Frames returns how many frames Next delivered in total.
func (s *Source) Frames() int { s.mu.Lock(); defer s.mu.Unlock(); return s.frames }

// ErrLost is a ready-made "device lost" step error.
var ErrLost = errors.Join(capture.ErrDeviceLost, errors.New("capturetest: unplugged"))
