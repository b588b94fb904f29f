package agent

import (
	"fmt"
	"strings"
	"time"
)

// V4L2CaptureConfig is the [capture] part for source = "v4l2" (embedded in
// CaptureConfig, so its keys sit directly in [capture]).
type V4L2CaptureConfig struct {
	// Device names the camera: a node ("/dev/video0"), a /dev/v4l/by-id or
	// by-path path, or a substring of a by-id name ("C920"), resolved again
	// at every capture round so a re-plugged camera is found.
	Device string `toml:"device"`
	// Formats lists pixel formats (FourCC) in order of preference: "MJPG",
	// "YUYV".
	Formats []string `toml:"formats"`
	// Width and Height are the requested frame size in pixels; the
	// closest size the camera offers is used.
	Width  int `toml:"width"`
	Height int `toml:"height"`
	// FrameTimeout is how long a round waits for a good frame before it
	// fails (the camera then shows as stalled in health).
	FrameTimeout time.Duration `toml:"frame_timeout"`
	// Buffers is the number of driver frame buffers, [2,32]; few keep
	// latency low.
	Buffers int `toml:"buffers"`
}

// DefaultV4L2CaptureConfig returns the v4l2 defaults: /dev/video0, MJPG
// then YUYV, 640×480, 2s frame timeout, 3 buffers.
func DefaultV4L2CaptureConfig() V4L2CaptureConfig {
	return V4L2CaptureConfig{
		Device:       "/dev/video0",
		Formats:      []string{"MJPG", "YUYV"},
		Width:        640,
		Height:       480,
		FrameTimeout: 2 * time.Second,
		Buffers:      3,
	}
}

// validate checks the v4l2 fields, naming the dotted key.
func (c V4L2CaptureConfig) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(c.Device) == "" {
		return bad("capture.device", "must name the camera (/dev/video0, a /dev/v4l/by-id path or part of a by-id name) when capture.source = \"v4l2\"")
	}
	if len(c.Formats) == 0 {
		return bad("capture.formats", "must list at least one of \"MJPG\", \"YUYV\"")
	}
	seen := map[string]bool{}
	for i, f := range c.Formats {
		field := fmt.Sprintf("capture.formats[%d]", i)
		if f != "MJPG" && f != "YUYV" {
			return bad(field, "must be \"MJPG\" or \"YUYV\", got %q", f)
		}
		if seen[f] {
			return bad(field, "%q is listed twice", f)
		}
		seen[f] = true
	}
	if c.Width < 16 || c.Width > 7680 || c.Width%2 != 0 {
		return bad("capture.width", "must be an even number of pixels in [16,7680], got %d", c.Width)
	}
	if c.Height < 16 || c.Height > 4320 {
		return bad("capture.height", "must be in [16,4320] pixels, got %d", c.Height)
	}
	if c.FrameTimeout < 100*time.Millisecond || c.FrameTimeout > time.Minute {
		return bad("capture.frame_timeout", "must be in [100ms,1m], got %v", c.FrameTimeout)
	}
	if c.Buffers < 2 || c.Buffers > 32 {
		return bad("capture.buffers", "must be in [2,32], got %d", c.Buffers)
	}
	return nil
}
