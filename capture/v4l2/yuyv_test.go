package v4l2

import (
	"errors"
	"image"
	"math"
	"math/rand/v2"
	"testing"
)

// refRGB is the floating-point BT.601 reference the fixed-point code must
// match within one step of rounding.
func refRGB(y, u, v uint8, rng Range) (r, g, b float64) {
	Y, U, V := float64(y), float64(u)-128, float64(v)-128
	if rng == RangeFull {
		return Y + 1.402*V, Y - 0.344136*U - 0.714136*V, Y + 1.772*U
	}
	Y = 1.164383 * (Y - 16)
	return Y + 1.596027*V, Y - 0.391762*U - 0.812968*V, Y + 2.017232*U
}

func clampF(v float64) float64 { return math.Min(255, math.Max(0, v)) }

func TestYUYVKnownPixels(t *testing.T) {
	tests := []struct {
		name    string
		rng     Range
		y, u, v uint8
		want    [3]uint8
	}{
		{"limited black", RangeLimited, 16, 128, 128, [3]uint8{0, 0, 0}},
		{"limited white", RangeLimited, 235, 128, 128, [3]uint8{255, 255, 255}},
		{"limited mid grey", RangeLimited, 126, 128, 128, [3]uint8{128, 128, 128}},
		{"limited below black clamps", RangeLimited, 0, 128, 128, [3]uint8{0, 0, 0}},
		{"limited above white clamps", RangeLimited, 255, 128, 128, [3]uint8{255, 255, 255}},
		{"limited red (BT.601 Y81 Cb90 Cr240)", RangeLimited, 81, 90, 240, [3]uint8{254, 0, 0}},
		{"limited green (Y145 Cb54 Cr34)", RangeLimited, 145, 54, 34, [3]uint8{0, 255, 1}},
		{"limited blue (Y41 Cb240 Cr110)", RangeLimited, 41, 240, 110, [3]uint8{0, 0, 255}},
		{"full black", RangeFull, 0, 128, 128, [3]uint8{0, 0, 0}},
		{"full white", RangeFull, 255, 128, 128, [3]uint8{255, 255, 255}},
		{"full red (JFIF Y76 Cb85 Cr255)", RangeFull, 76, 85, 255, [3]uint8{254, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Two pixels sharing chroma; the second has Y=16/0 (black).
			yb := uint8(16)
			if tc.rng == RangeFull {
				yb = 0
			}
			src := []byte{tc.y, tc.u, yb, tc.v}
			dst := image.NewRGBA(image.Rect(0, 0, 2, 1))
			if err := YUYVToRGBA(dst, src, 2, 1, 4, tc.rng); err != nil {
				t.Fatal(err)
			}
			got := [3]uint8{dst.Pix[0], dst.Pix[1], dst.Pix[2]}
			if got != tc.want || dst.Pix[3] != 255 {
				t.Fatalf("pixel 0 = %v alpha %d, want %v alpha 255", got, dst.Pix[3], tc.want)
			}
			r, g, b := refRGB(yb, tc.u, tc.v, tc.rng)
			for i, want := range []float64{r, g, b} {
				if d := math.Abs(float64(dst.Pix[4+i]) - clampF(want)); d > 1 {
					t.Fatalf("pixel 1 channel %d = %d, reference %.2f", i, dst.Pix[4+i], want)
				}
			}
		})
	}
}

func TestYUYVMatchesReference(t *testing.T) {
	const w, h, stride = 8, 6, 20 // 4 padding bytes per row
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]byte, stride*h)
	for i := range src {
		src[i] = byte(r.IntN(256))
	}
	for _, rng := range []Range{RangeLimited, RangeFull} {
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		if err := YUYVToRGBA(dst, src, w, h, stride, rng); err != nil {
			t.Fatal(err)
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := src[y*stride+(x/2)*4:]
				yy := p[0]
				if x%2 == 1 {
					yy = p[2]
				}
				rr, gg, bb := refRGB(yy, p[1], p[3], rng)
				c := dst.RGBAAt(x, y)
				for i, pair := range [][2]float64{{float64(c.R), rr}, {float64(c.G), gg}, {float64(c.B), bb}} {
					if math.Abs(pair[0]-clampF(pair[1])) > 1 {
						t.Fatalf("range %d (%d,%d) channel %d = %v, reference %.2f", rng, x, y, i, pair[0], pair[1])
					}
				}
				if c.A != 255 {
					t.Fatalf("alpha %d", c.A)
				}
			}
		}
	}
}

func TestYUYVErrors(t *testing.T) {
	dst := image.NewRGBA(image.Rect(0, 0, 4, 2))
	tests := []struct {
		name         string
		src          []byte
		w, h, stride int
		dst          *image.RGBA
		wantShort    bool
	}{
		{"truncated", make([]byte, 8+7), 4, 2, 8, dst, true},
		{"odd width", make([]byte, 64), 3, 2, 8, image.NewRGBA(image.Rect(0, 0, 3, 2)), false},
		{"stride too small", make([]byte, 64), 4, 2, 6, dst, false},
		{"wrong destination", make([]byte, 64), 4, 2, 8, image.NewRGBA(image.Rect(0, 0, 4, 3)), false},
		{"nil destination", make([]byte, 64), 4, 2, 8, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := YUYVToRGBA(tc.dst, tc.src, tc.w, tc.h, tc.stride, RangeLimited)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrShortFrame) != tc.wantShort {
				t.Fatalf("err = %v, ErrShortFrame expected %v", err, tc.wantShort)
			}
		})
	}
	// The last row needs only 2w bytes, not a full stride.
	if err := YUYVToRGBA(dst, make([]byte, 8+8), 4, 2, 8, RangeLimited); err != nil {
		t.Fatalf("exact-length frame: %v", err)
	}
}

func benchYUYV(b *testing.B, w, h int) {
	src := make([]byte, 2*w*h)
	for i := range src {
		src[i] = byte(i * 7)
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if err := YUYVToRGBA(dst, src, w, h, 2*w, RangeLimited); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkYUYVToRGBA640x480(b *testing.B)  { benchYUYV(b, 640, 480) }
func BenchmarkYUYVToRGBA1280x720(b *testing.B) { benchYUYV(b, 1280, 720) }
