package inference

import (
	"image"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	xdraw "golang.org/x/image/draw"

	"github.com/faceverify/faceverify/internal/testenv"
)

// refBilinear is pixel-centre bilinear sampling with float64 positions and
// float32 weights, clamped to the border: the resizer before fixed-point
// taps, kept as the reference for the tolerance tests.
func refBilinear(dst []float32, src *image.RGBA, crop Box, l TensorLayout) {
	b := src.Rect
	plane := l.Width * l.Height
	sx := crop.W / float64(l.Width)
	sy := crop.H / float64(l.Height)
	maxX, maxY := b.Dx()-1, b.Dy()-1
	for y := 0; y < l.Height; y++ {
		fy := crop.Y + (float64(y)+0.5)*sy - 0.5
		y0, wy := splitCoord(fy, maxY)
		y1 := min(y0+1, maxY)
		r0 := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y0):]
		r1 := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y1):]
		for x := 0; x < l.Width; x++ {
			fx := crop.X + (float64(x)+0.5)*sx - 0.5
			x0, wx := splitCoord(fx, maxX)
			x1 := min(x0+1, maxX)
			var c [3]float32
			for k := 0; k < 3; k++ {
				top := float32(r0[4*x0+k])*(1-wx) + float32(r0[4*x1+k])*wx
				bot := float32(r1[4*x0+k])*(1-wx) + float32(r1[4*x1+k])*wx
				c[k] = top*(1-wy) + bot*wy
			}
			store(dst, y*l.Width+x, plane, c, l)
		}
	}
}

// noise is a w×h opaque image of random levels (the worst case for
// interpolation error: neighbours differ by up to 255).
func noise(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	return img
}

// levelTolerance is the largest difference, in 8-bit levels, allowed
// between the fixed-point resizer and float bilinear sampling: the
// weights' quantisation error (≤ 255/4096 per axis) plus float32 rounding.
const levelTolerance = 0.13

// resizeCases are the geometries of the per-frame path (the detector's
// 320×240 from portrait and landscape frames and from a confirmation
// crop partly outside the frame, the liveness 128×128 up- and downscale,
// the landmark and quality 64×64 grey crops) and odd ones.
var resizeCases = []struct {
	name       string
	srcW, srcH int
	crop       Box
	l          TensorLayout
}{
	{"detector portrait 480x640", 480, 640, Box{0, 0, 480, 640}, TensorLayout{320, 240, RGB, 127, 1.0 / 128, false}},
	{"detector 1280x720", 1280, 720, Box{0, 0, 1280, 720}, TensorLayout{320, 240, RGB, 127, 1.0 / 128, false}},
	{"confirm crop past the edge", 480, 640, Box{-37.3, 201.9, 402.6, 402.6}, TensorLayout{320, 240, RGB, 127, 1.0 / 128, false}},
	{"liveness upscale", 480, 640, Box{150.25, 200.5, 96.7, 96.7}, TensorLayout{128, 128, BGR, 0, 1, false}},
	{"liveness downscale", 1617, 2160, Box{400.4, 700.1, 611.3, 611.3}, TensorLayout{128, 128, BGR, 0, 1, false}},
	{"landmarks grey", 480, 640, Box{120.5, 180.5, 230.2, 230.2}, TensorLayout{64, 64, Gray, 0, 1.0 / 256, false}},
	{"quality grey", 640, 480, Box{0.5, 0, 75, 82}, TensorLayout{64, 64, Gray, 0, 1, false}},
	{"embed identity", 112, 112, Box{0, 0, 112, 112}, TensorLayout{112, 112, BGR, 127.5, 1.0 / 128, false}},
	{"exact 2x RGB", 640, 480, Box{0, 0, 640, 480}, TensorLayout{320, 240, RGB, 127, 1.0 / 128, false}},
	{"exact 2x BGR offset", 641, 483, Box{1, 3, 640, 480}, TensorLayout{320, 240, BGR, 0, 1, false}},
	{"exact 2x grey", 128, 128, Box{0, 0, 128, 128}, TensorLayout{64, 64, Gray, 0, 1.0 / 256, false}},
	{"2x past the edge", 640, 480, Box{-2, 0, 640, 480}, TensorLayout{320, 240, RGB, 0, 1, false}},
	{"one pixel", 1, 1, Box{0, 0, 1, 1}, TensorLayout{3, 2, RGB, 0, 1, false}},
}

// TestResizerMatchesFloatBilinear: on random images every output value is
// within levelTolerance levels (times the layout's scale) of float
// bilinear sampling, and the exact 2× reductions are bit-identical.
func TestResizerMatchesFloatBilinear(t *testing.T) {
	var r Resizer // one Resizer across cases: taps must follow the geometry
	for i, c := range resizeCases {
		t.Run(c.name, func(t *testing.T) {
			src := noise(c.srcW, c.srcH, uint64(i))
			want := make([]float32, c.l.Len())
			got := make([]float32, c.l.Len())
			refBilinear(want, src, c.crop, c.l)
			for pass := 0; pass < 2; pass++ { // the second reuses the taps
				if err := r.Resize(got, src, c.crop, c.l); err != nil {
					t.Fatal(err)
				}
				worst := 0.0
				for j := range want {
					worst = math.Max(worst, math.Abs(float64(got[j]-want[j]))/float64(c.l.Scale))
				}
				if r.box2 {
					if worst != 0 {
						t.Fatalf("exact 2× reduction differs from the block mean by %.3g levels", worst)
					}
				} else if worst > levelTolerance {
					t.Fatalf("pass %d: worst difference %.4f levels, tolerance %v", pass, worst, levelTolerance)
				}
			}
			if want2x := c.name[:min(len(c.name), 5)] == "exact"; want2x != r.box2 {
				t.Fatalf("2× box path used = %v, want %v", r.box2, want2x)
			}
		})
	}
}

// TestResizerBox2Exact checks the 2× reduction against the block means
// computed here directly.
func TestResizerBox2Exact(t *testing.T) {
	src := noise(64, 48, 7)
	l := TensorLayout{32, 24, BGR, 127.5, 1.0 / 128, false}
	got := make([]float32, l.Len())
	var r Resizer
	if err := r.Resize(got, src, Box{0, 0, 64, 48}, l); err != nil {
		t.Fatal(err)
	}
	plane := 32 * 24
	for y := 0; y < 24; y++ {
		for x := 0; x < 32; x++ {
			for k, p := range []int{2, 1, 0} { // BGR planes of R, G, B
				s := 0
				for _, o := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
					s += int(src.Pix[src.PixOffset(2*x+o[0], 2*y+o[1])+k])
				}
				want := (float32(s)/4 - 127.5) / 128
				if v := got[p*plane+y*32+x]; v != want {
					t.Fatalf("(%d,%d) channel %d = %v, want %v", x, y, k, v, want)
				}
			}
		}
	}
}

// TestResizerMatchesXImageDraw compares with golang.org/x/image/draw's
// ApproxBiLinear (the same pixel-centre bilinear sampling, computed on
// 16-bit levels and truncated back to 8 bits) on sub-images (both clamp
// samples to the sub-image's border): within one level for its truncation
// plus levelTolerance, and unbiased (mean difference within ±0.05 level).
func TestResizerMatchesXImageDraw(t *testing.T) {
	cases := []struct {
		name       string
		srcW, srcH int
		crop       image.Rectangle
		w, h       int
	}{
		{"detector portrait", 480, 640, image.Rect(0, 0, 480, 640), 320, 240},
		{"detector 2x", 640, 480, image.Rect(0, 0, 640, 480), 320, 240},
		{"face crop up", 480, 640, image.Rect(150, 200, 247, 297), 128, 128},
		{"face crop down", 1617, 2160, image.Rect(400, 700, 1011, 1311), 128, 128},
		{"1280x720", 1280, 720, image.Rect(0, 0, 1280, 720), 320, 240},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := noise(c.srcW, c.srcH, uint64(100+i)).SubImage(c.crop).(*image.RGBA)
			ref := image.NewRGBA(image.Rect(0, 0, c.w, c.h))
			xdraw.ApproxBiLinear.Scale(ref, ref.Rect, src, c.crop, xdraw.Src, nil)
			l := TensorLayout{c.w, c.h, RGB, 0, 1, false}
			got := make([]float32, l.Len())
			crop := Box{0, 0, float64(c.crop.Dx()), float64(c.crop.Dy())}
			if err := ResizeInto(got, src, crop, l); err != nil {
				t.Fatal(err)
			}
			plane := c.w * c.h
			worst, sum := 0.0, 0.0
			for y := 0; y < c.h; y++ {
				for x := 0; x < c.w; x++ {
					p := ref.Pix[ref.PixOffset(x, y):]
					for k := 0; k < 3; k++ {
						d := float64(got[k*plane+y*c.w+x]) - float64(p[k])
						worst = math.Max(worst, math.Abs(d))
						sum += d
					}
				}
			}
			if worst > 1+levelTolerance {
				t.Fatalf("worst difference from x/image/draw %.3f levels, tolerance %.3f", worst, 1+levelTolerance)
			}
			if mean := sum / float64(3*plane); math.Abs(mean) > 0.05 {
				t.Fatalf("mean difference from x/image/draw %.4f levels, want within ±0.05", mean)
			}
		})
	}
}

// BenchmarkResize compares the per-frame resizes with the float path.
func BenchmarkResize(b *testing.B) {
	for _, c := range resizeCases[:6] {
		src := noise(c.srcW, c.srcH, 1)
		dst := make([]float32, c.l.Len())
		b.Run(c.name+"/taps", func(b *testing.B) {
			var r Resizer
			b.ReportAllocs()
			defer testenv.CPUMeter(b, time.Microsecond)()
			for b.Loop() {
				_ = r.Resize(dst, src, c.crop, c.l)
			}
		})
		b.Run(c.name+"/float", func(b *testing.B) {
			b.ReportAllocs()
			defer testenv.CPUMeter(b, time.Microsecond)()
			for b.Loop() {
				refBilinear(dst, src, c.crop, c.l)
			}
		})
	}
	src := noise(640, 480, 1)
	l := TensorLayout{320, 240, RGB, 127, 1.0 / 128, false}
	dst := make([]float32, l.Len())
	b.Run("detector 640x480 exact 2x/taps", func(b *testing.B) {
		var r Resizer
		b.ReportAllocs()
		defer testenv.CPUMeter(b, time.Microsecond)()
		for b.Loop() {
			_ = r.Resize(dst, src, Box{0, 0, 640, 480}, l)
		}
	})
	b.Run("detector 640x480 exact 2x/float", func(b *testing.B) {
		b.ReportAllocs()
		defer testenv.CPUMeter(b, time.Microsecond)()
		for b.Loop() {
			refBilinear(dst, src, Box{0, 0, 640, 480}, l)
		}
	})
}
