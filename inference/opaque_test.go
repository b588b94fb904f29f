package inference

import (
	"image"
	"testing"
)

// TestOpaqueMatchesStdlib checks opaque against image.RGBA.Opaque for
// every position of one translucent pixel in images of odd and even
// widths, narrower and wider than the 16-pixel step, sub-images included.
func TestOpaqueMatchesStdlib(t *testing.T) {
	for _, r := range []image.Rectangle{
		image.Rect(0, 0, 5, 3), image.Rect(0, 0, 4, 2), image.Rect(0, 0, 1, 1), image.Rect(2, 1, 9, 4),
		image.Rect(0, 0, 16, 2), image.Rect(0, 0, 37, 3), image.Rect(3, 1, 40, 5),
	} {
		base := image.NewRGBA(image.Rect(0, 0, 40, 5))
		for i := 3; i < len(base.Pix); i += 4 {
			base.Pix[i] = 255
		}
		m := base.SubImage(r).(*image.RGBA)
		if !opaque(m) || !m.Opaque() {
			t.Fatalf("%v: opaque image reported translucent", r)
		}
		for y := 0; y < 5; y++ {
			for x := 0; x < 40; x++ {
				base.Pix[base.PixOffset(x, y)+3] = 254
				if got, want := opaque(m), m.Opaque(); got != want {
					t.Fatalf("%v with (%d,%d) translucent: opaque %v, stdlib %v", r, x, y, got, want)
				}
				base.Pix[base.PixOffset(x, y)+3] = 255
			}
		}
	}
	if !opaque(image.NewRGBA(image.Rectangle{})) {
		t.Fatal("empty image")
	}
}
