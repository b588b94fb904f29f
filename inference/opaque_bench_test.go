package inference

import (
	"image"
	"testing"
	"time"

	"github.com/faceverify/faceverify/internal/testenv"
)

// BenchmarkOpaque is the per-frame opacity check on a 480×640 frame.
func BenchmarkOpaque(b *testing.B) {
	m := image.NewRGBA(image.Rect(0, 0, 480, 640))
	for i := range m.Pix {
		m.Pix[i] = 255
	}
	b.SetBytes(int64(len(m.Pix)))
	defer testenv.CPUMeter(b, time.Microsecond)()
	for b.Loop() {
		if !opaque(m) {
			b.Fatal("translucent")
		}
	}
}
