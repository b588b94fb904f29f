package ui

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

func frame(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	return img
}

func TestEncodePreview(t *testing.T) {
	for _, tc := range []struct{ w, h, wantW, wantH int }{
		{1280, 960, 640, 480}, {640, 480, 640, 480}, {320, 240, 320, 240}, {1920, 1080, 640, 360},
	} {
		b, err := EncodePreview(frame(tc.w, tc.h), nil, PreviewMaxWidth, PreviewQuality)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
		if err != nil || cfg.Width != tc.wantW || cfg.Height != tc.wantH {
			t.Errorf("%d×%d → %d×%d (%v), want %d×%d", tc.w, tc.h, cfg.Width, cfg.Height, err, tc.wantW, tc.wantH)
		}
	}
	orig := []byte{0xff, 0xd8, 1, 2}
	if b, _ := EncodePreview(frame(640, 480), orig, PreviewMaxWidth, PreviewQuality); !bytes.Equal(b, orig) {
		t.Error("a narrow camera JPEG is not passed through")
	}
	if b, _ := EncodePreview(frame(1280, 960), orig, PreviewMaxWidth, PreviewQuality); bytes.Equal(b, orig) {
		t.Error("a wide camera JPEG is passed through instead of downscaled")
	}
}

// BenchmarkPreview640 is the agent's cost per preview frame at 640×480
// from raw RGBA (a YUYV camera; an MJPG camera's frames pass through):
// CPU % of one core at 15 fps = 15 × ns/op / 1e7.
func BenchmarkPreview640(b *testing.B) {
	img := frame(640, 480)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodePreview(img, nil, PreviewMaxWidth, PreviewQuality); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(15*float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e7, "%core@15fps")
}

// BenchmarkPreview1280 downscales a 1280×960 frame to 640×480 first.
func BenchmarkPreview1280(b *testing.B) {
	img := frame(1280, 960)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodePreview(img, nil, PreviewMaxWidth, PreviewQuality); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(15*float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e7, "%core@15fps")
}
