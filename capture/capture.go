// Package capture defines camera sources. A Source delivers upright RGB
// frames with capture timestamps; implementations live in subpackages
// (capture/replay for image files, capture/v4l2 for Video4Linux2 cameras)
// and fakes for tests in capture/capturetest. Supervisor watches a Source's
// health (device present, frames arriving) for the agent.
package capture

import (
	"context"
	"errors"
	"image"
	"time"
)

// ErrClosed is returned by Next after Close, or when the source has ended
// (a replay that does not loop).
var ErrClosed = errors.New("capture source closed")

// ErrDeviceLost is returned (wrapped) by Next when the camera disappeared
// mid-capture (unplugged, driver reset). The session ends with CAMERA_LOST.
var ErrDeviceLost = errors.New("camera lost")

// ErrNoDevice is returned (wrapped) by Open when the camera is not there:
// the configured device node or by-id name does not exist (not plugged in,
// not yet enumerated). A Supervisor reports it as CAMERA_ABSENT (never seen
// since start) or CAMERA_LOST (seen before).
var ErrNoDevice = errors.New("camera absent")

// ErrFrameTimeout is returned (wrapped) by Next when an open camera
// delivered no frame within the source's frame timeout although its device
// node is still present (a stalled camera or driver).
var ErrFrameTimeout = errors.New("no frame within the frame timeout")

// Frame is one captured image.
type Frame struct {
	// Image is upright (EXIF/rotation applied), RGB(A). MJPEG cameras and
	// replayed files hand it over still encoded (*LazyImage, decoded on
	// first use): read many pixels through Pixels, not At.
	Image image.Image
	// JPEG holds the frame's original encoded bytes when the source has them
	// (replayed JPEG files, MJPEG cameras); nil otherwise.
	JPEG []byte
	At   time.Time // capture time from the source's clock
	Seq  uint64    // per-Open sequence number, from 1
}

// Source is a camera. Open starts streaming; Next blocks until a frame, ctx
// cancellation or an error; Close stops streaming and may be called twice.
// A Source is used by one goroutine at a time.
type Source interface {
	Open(ctx context.Context) error
	Next(ctx context.Context) (Frame, error)
	Close() error
	// Name identifies the source in logs and health, e.g. "/dev/video0".
	Name() string
}
