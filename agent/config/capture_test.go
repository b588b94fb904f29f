package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestV4L2CaptureConfigDecode(t *testing.T) {
	cfg, err := Decode(`
[capture]
source = "v4l2"
device = "C920"
formats = ["YUYV", "MJPG"]
width = 1280
height = 720
fps = 25.0
frame_timeout = "3s"
buffers = 4
`)
	if err != nil {
		t.Fatal(err)
	}
	want := V4L2CaptureConfig{Device: "C920", Formats: []string{"YUYV", "MJPG"}, Width: 1280, Height: 720, FrameTimeout: 3 * time.Second, Buffers: 4}
	if !reflect.DeepEqual(cfg.Capture.V4L2CaptureConfig, want) || cfg.Capture.FPS != 25 || cfg.Capture.Source != "v4l2" {
		t.Fatalf("decoded %+v", cfg.Capture)
	}
	cfg.Device.ID = "kiosk-1"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode("[capture]\nsource = \"v4l2\"\ndevise = \"C920\"\n"); err == nil || !strings.Contains(err.Error(), "capture.devise") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestV4L2CaptureConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *V4L2CaptureConfig)
		field string
	}{
		{"empty device", func(c *V4L2CaptureConfig) { c.Device = " " }, "capture.device:"},
		{"no formats", func(c *V4L2CaptureConfig) { c.Formats = nil }, "capture.formats:"},
		{"unknown format", func(c *V4L2CaptureConfig) { c.Formats = []string{"MJPG", "H264"} }, "capture.formats[1]:"},
		{"lower case", func(c *V4L2CaptureConfig) { c.Formats = []string{"yuyv"} }, "capture.formats[0]:"},
		{"duplicate", func(c *V4L2CaptureConfig) { c.Formats = []string{"YUYV", "YUYV"} }, "capture.formats[1]:"},
		{"odd width", func(c *V4L2CaptureConfig) { c.Width = 641 }, "capture.width:"},
		{"zero height", func(c *V4L2CaptureConfig) { c.Height = 0 }, "capture.height:"},
		{"tiny timeout", func(c *V4L2CaptureConfig) { c.FrameTimeout = 10 * time.Millisecond }, "capture.frame_timeout:"},
		{"one buffer", func(c *V4L2CaptureConfig) { c.Buffers = 1 }, "capture.buffers:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Device.ID = "kiosk-1"
			cfg.Capture.Source = "v4l2"
			tc.edit(&cfg.Capture.V4L2CaptureConfig)
			err := cfg.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tc.field) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.field)
			}
		})
	}
	// The v4l2 fields are not checked for the replay source.
	cfg := DefaultConfig()
	cfg.Device.ID = "kiosk-1"
	cfg.Capture.Buffers = 0
	if err := cfg.Validate(); err != nil {
		t.Fatalf("replay with unused v4l2 fields: %v", err)
	}
}
