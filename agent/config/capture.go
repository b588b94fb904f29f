package config

import (
	"fmt"
	"time"

	"github.com/faceverify/faceverify/internal/conf"
)

// V4L2CaptureConfig is the [capture] part for source = "v4l2" (embedded in
// CaptureConfig, so its keys sit directly in [capture]).
type V4L2CaptureConfig struct {
	// Device names the camera: a node ("/dev/video0"), a /dev/v4l/by-id or
	// by-path path, or a substring of a by-id name ("C920"), resolved again
	// at every capture round so a re-plugged camera is found.
	Device string `toml:"device" nonempty:"true" when:"capture.source=v4l2" rule:"must name the camera (/dev/video0, a /dev/v4l/by-id path or part of a by-id name) when capture.source = \"v4l2\""`
	// Formats lists pixel formats (FourCC) in order of preference: "MJPG",
	// "YUYV".
	Formats []string `toml:"formats"`
	// Width and Height are the requested frame size in pixels; the
	// closest size the camera offers is used.
	Width  int `toml:"width"` // even, in [16,7680]
	Height int `toml:"height" min:"16" max:"4320" unit:"pixels" when:"capture.source=v4l2"`
	// FrameTimeout is how long a round waits for a good frame before it
	// fails (the camera then shows as stalled in health).
	FrameTimeout time.Duration `toml:"frame_timeout" min:"100ms" max:"1m" when:"capture.source=v4l2"`
	// Buffers is the number of driver frame buffers, [2,32]; few keep
	// latency low.
	Buffers int `toml:"buffers" min:"2" max:"32" when:"capture.source=v4l2"`
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

// validate checks the v4l2 rules beyond the declared limits (the format
// list and an even width), naming the dotted key; Config.Validate calls it
// for source = "v4l2" only.
func (c V4L2CaptureConfig) validate() error {
	if len(c.Formats) == 0 {
		return conf.Errorf("capture.formats", "must list at least one of \"MJPG\", \"YUYV\"")
	}
	seen := map[string]bool{}
	for i, f := range c.Formats {
		field := fmt.Sprintf("capture.formats[%d]", i)
		if f != "MJPG" && f != "YUYV" {
			return conf.Errorf(field, "must be \"MJPG\" or \"YUYV\", got %q", f)
		}
		if seen[f] {
			return conf.Errorf(field, "%q is listed twice", f)
		}
		seen[f] = true
	}
	if c.Width < 16 || c.Width > 7680 || c.Width%2 != 0 {
		return conf.Errorf("capture.width", "must be an even number of pixels in [16,7680], got %d", c.Width)
	}
	return nil
}
