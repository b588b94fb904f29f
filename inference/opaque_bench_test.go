package inference

import (
	"image"
	"testing"
)

// BenchmarkOpaque is the per-frame opacity check on a 480×640 frame.
func BenchmarkOpaque(b *testing.B) {
	m := image.NewRGBA(image.Rect(0, 0, 480, 640))
	for i := range m.Pix {
		m.Pix[i] = 255
	}
	b.SetBytes(int64(len(m.Pix)))
	defer cpuMeter(b)()
	for b.Loop() {
		if !opaque(m) {
			b.Fatal("translucent")
		}
	}
}
