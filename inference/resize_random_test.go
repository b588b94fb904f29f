package inference

import (
	"image"
	"math"
	"math/rand/v2"
	"testing"
)

// floatBilinear is pixel-centre bilinear sampling of crop of src in
// float64, clamped to the border pixels, normalised as l says: the value
// every path of Resizer approximates (within 0.125 levels, resizeBits).
func floatBilinear(src *image.RGBA, crop Box, l TensorLayout, x, y int) [3]float64 {
	b := src.Rect
	sx, sy := crop.W/float64(l.Width), crop.H/float64(l.Height)
	clampSplit := func(f float64, max int) (int, float64) {
		if f <= 0 {
			return 0, 0
		}
		if f >= float64(max) {
			return max, 0
		}
		i := math.Floor(f)
		return int(i), f - i
	}
	x0, wx := clampSplit(crop.X+(float64(x)+0.5)*sx-0.5, b.Dx()-1)
	y0, wy := clampSplit(crop.Y+(float64(y)+0.5)*sy-0.5, b.Dy()-1)
	x1, y1 := min(x0+1, b.Dx()-1), min(y0+1, b.Dy()-1)
	at := func(px, py, k int) float64 { return float64(src.Pix[src.PixOffset(b.Min.X+px, b.Min.Y+py)+k]) }
	var c [3]float64
	for k := range c {
		c[k] = (at(x0, y0, k)*(1-wx)+at(x1, y0, k)*wx)*(1-wy) + (at(x0, y1, k)*(1-wx)+at(x1, y1, k)*wx)*wy
	}
	return c
}

// TestResizerRandomGeometries: one Resizer, reused across random source
// sizes (1 px and odd sizes among them), sub-images, crops inside, across
// and past the edges, exact 2× reductions and upscales, and every channel
// order, stays within 0.125 levels (resizeBits) of float64 bilinear
// sampling for every output value.
func TestResizerRandomGeometries(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var r Resizer
	orders := []ChannelOrder{RGB, BGR, Gray}
	paths := map[[2]bool]int{} // {box2, rowsShared}: cases
	for n := range 600 {
		pw, ph := 1+rng.IntN(40), 1+rng.IntN(40)
		parent := image.NewRGBA(image.Rect(-3, 5, -3+pw+7, 5+ph+5))
		for i := range parent.Pix {
			parent.Pix[i] = uint8(rng.IntN(256))
		}
		ox, oy := rng.IntN(8), rng.IntN(6)
		src := parent.SubImage(image.Rect(-3+ox, 5+oy, -3+ox+pw, 5+oy+ph)).(*image.RGBA)
		l := TensorLayout{Width: 1 + rng.IntN(24), Height: 1 + rng.IntN(24), Order: orders[rng.IntN(3)], Mean: 127.5, Scale: 1.0 / 128}
		var crop Box
		switch rng.IntN(3) {
		case 0: // exact 2× reduction from a whole-pixel offset
			crop = Box{float64(rng.IntN(pw)), float64(rng.IntN(ph)), float64(2 * l.Width), float64(2 * l.Height)}
		case 1: // upscale
			crop = Box{rng.Float64() * float64(pw), rng.Float64() * float64(ph), 0.1 + rng.Float64()*float64(l.Width)/2, 0.1 + rng.Float64()*float64(l.Height)/2}
		default: // anything, past the edges too
			crop = Box{rng.Float64()*float64(pw+20) - 10, rng.Float64()*float64(ph+20) - 10, 0.5 + rng.Float64()*float64(pw+10), 0.5 + rng.Float64()*float64(ph+10)}
		}
		dst := make([]float32, l.Len())
		if err := r.Resize(dst, src, crop, l); err != nil {
			t.Fatal(err)
		}
		paths[[2]bool{r.box2, r.rowsShared}]++
		plane := l.Width * l.Height
		tol := 0.125*l.Scale + 1e-4
		for y := range l.Height {
			for x := range l.Width {
				c := floatBilinear(src, crop, l, x, y)
				i := y*l.Width + x
				var want, got []float64
				switch l.Order {
				case RGB:
					want, got = []float64{c[0], c[1], c[2]}, []float64{float64(dst[i]), float64(dst[plane+i]), float64(dst[2*plane+i])}
				case BGR:
					want, got = []float64{c[2], c[1], c[0]}, []float64{float64(dst[i]), float64(dst[plane+i]), float64(dst[2*plane+i])}
				case Gray:
					want, got = []float64{0.299*c[0] + 0.587*c[1] + 0.114*c[2]}, []float64{float64(dst[i])}
				}
				for k := range want {
					w := (want[k] - float64(l.Mean)) * float64(l.Scale)
					if math.Abs(got[k]-w) > float64(tol) {
						t.Fatalf("case %d: %dx%d sub-image at (%d,%d), crop %+v, layout %+v: value %d at (%d,%d) is %v, want %v ±%v",
							n, pw, ph, ox, oy, crop, l, k, x, y, got[k], w, tol)
					}
				}
			}
		}
	}
	if paths[[2]bool{true, false}] == 0 || paths[[2]bool{false, true}] == 0 || paths[[2]bool{false, false}] == 0 {
		t.Errorf("paths taken (box2, rows shared): %v; want each of 2× blocks, the row pass and the per-pixel pass", paths)
	}
}

// TestResizeRefusesNonFiniteCrops: a crop with a NaN or infinite
// coordinate is an error, on every path (the antialiased one included),
// and the tensor is left as it was; before, such a crop filled it with
// NaN or clamped border pixels without an error.
func TestResizeRefusesNonFiniteCrops(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 9, 7))
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name string
		crop Box
		aa   bool
	}{
		{"NaN x", Box{nan, 0, 4, 4}, false},
		{"NaN y, antialiased", Box{0, nan, 40, 40}, true},
		{"NaN width", Box{0, 0, nan, 4}, false},
		{"infinite width, antialiased", Box{0, 0, inf, 40}, true},
		{"infinite height", Box{0, 0, 4, inf}, false},
		{"−∞ x", Box{-inf, 0, 4, 4}, false},
	} {
		l := TensorLayout{Width: 8, Height: 8, Order: RGB, Scale: 1, Antialias: tc.aa}
		dst := make([]float32, l.Len())
		for i := range dst {
			dst[i] = 7
		}
		var r Resizer
		if err := r.Resize(dst, src, tc.crop, l); err == nil {
			t.Errorf("%s: Resize: no error", tc.name)
		}
		if err := ResizeInto(dst, src, tc.crop, l); err == nil {
			t.Errorf("%s: ResizeInto: no error", tc.name)
		}
		for i, v := range dst {
			if v != 7 {
				t.Fatalf("%s: value %d written (%v)", tc.name, i, v)
			}
		}
	}
}
