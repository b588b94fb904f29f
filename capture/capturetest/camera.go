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

// Camera is a fake pluggable camera (a capture.Source and capture.Prober):
// while plugged it streams copies of Image; Unplug makes Present and Open
// fail with capture.ErrNoDevice and a running Next fail with
// capture.ErrDeviceLost, as a USB camera pulled out mid-session does; Plug
// brings it back. Make one with NewCamera; safe for concurrent use.
type Camera struct {
	// Image is streamed; a 4×4 grey image if nil.
	Image image.Image
	// OpenErr, when set, is returned by Open while plugged (a present but
	// unusable camera).
	OpenErr error

	mu      sync.Mutex
	plugged bool
	open    bool
	seq     uint64
	opens   int
}

// NewCamera returns a Camera, plugged in or not.
func NewCamera(plugged bool) *Camera {
	return &Camera{plugged: plugged}
}

// Plug connects the camera.
func (c *Camera) Plug() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.plugged = true
}

// Unplug disconnects the camera; an open stream is lost.
func (c *Camera) Unplug() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.plugged = false
}

// Present returns nil while plugged, else an error wrapping
// capture.ErrNoDevice.
func (c *Camera) Present() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.plugged {
		return errAbsent
	}
	return nil
}

var errAbsent = errors.Join(capture.ErrNoDevice, errors.New("capturetest: unplugged"))

// Open starts streaming while plugged.
func (c *Camera) Open(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opens++
	switch {
	case !c.plugged:
		return errAbsent
	case c.OpenErr != nil:
		return c.OpenErr
	}
	c.open, c.seq = true, 0
	return nil
}

// Next returns a frame at once while plugged and open, and fails with
// ErrLost (capture.ErrDeviceLost) once the camera is unplugged.
func (c *Camera) Next(ctx context.Context) (capture.Frame, error) {
	c.mu.Lock()
	if !c.open {
		c.mu.Unlock()
		return capture.Frame{}, capture.ErrClosed
	}
	if !c.plugged {
		c.mu.Unlock()
		return capture.Frame{}, ErrLost
	}
	c.seq++
	f := capture.Frame{Image: c.Image, Seq: c.seq, At: time.Now()}
	c.mu.Unlock()
	if f.Image == nil {
		f.Image = Frame(4, 4, color.Gray{Y: 128})
	}
	return f, ctx.Err()
}

// Close stops streaming; it may be called twice.
func (c *Camera) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open = false
	return nil
}

// Name returns "fakecam".
func (c *Camera) Name() string { return "fakecam" }

// Opens returns how many times Open was called.
func (c *Camera) Opens() int { c.mu.Lock(); defer c.mu.Unlock(); return c.opens }

// IsOpen reports whether the camera is streaming.
func (c *Camera) IsOpen() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.open }
