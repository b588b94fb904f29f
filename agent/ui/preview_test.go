package ui

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/faceverify/faceverify/internal/cputime"
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

// benchPreview encodes a w×h RGBA frame (a YUYV camera; an MJPG camera's
// frames ≤ 640 px wide pass through) with one reused encoder, as the
// agent's preview hub does. Besides wall ns/op it reports the process's
// CPU time per frame (getrusage user+sys, so GC and the runtime count
// too) and that as % of one core at 15 fps: on a shared machine wall
// time includes waiting for a core, CPU time does not.
func benchPreview(b *testing.B, w, h int) {
	img := frame(w, h)
	var e PreviewEncoder
	b.ReportAllocs()
	cpu0 := cputime.Process()
	for b.Loop() {
		if _, err := e.Encode(img, nil); err != nil {
			b.Fatal(err)
		}
	}
	cpuNS := float64((cputime.Process() - cpu0).Nanoseconds()) / float64(b.N)
	b.ReportMetric(cpuNS, "cpu-ns/op")
	b.ReportMetric(15*cpuNS/1e7, "%core@15fps")
}

// BenchmarkPreview640 is the agent's cost per 640×480 preview frame.
func BenchmarkPreview640(b *testing.B) { benchPreview(b, 640, 480) }

// BenchmarkPreview1280 shrinks a 1280×960 frame 2×2 to 640×480 first.
func BenchmarkPreview1280(b *testing.B) { benchPreview(b, 1280, 960) }
