package inference

import (
	"encoding/binary"
	"image"
	"testing"
)

// fourTap is the resizer's sampling computed pixel by pixel from the four
// source pixels of each output pixel with r's taps (the per-pixel
// implementation the row pass replaced): the row pass must give exactly
// these values.
func fourTap(dst []float32, src *image.RGBA, r *Resizer, l TensorLayout) {
	b := src.Rect
	w := l.Width
	plane := w * l.Height
	kk := l.Scale / float32(resizeOne*resizeOne)
	mb := l.Mean * l.Scale
	p0, p1, p2 := 0, plane, 2*plane
	if l.Order == BGR {
		p0, p2 = 2*plane, 0
	}
	for y, ty := range r.ys {
		r0 := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+int(ty.i0)):]
		r1 := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+int(ty.i1)):]
		wy1 := uint64(ty.w)
		wy0 := resizeOne - wy1
		for x, tx := range r.xs {
			a := binary.LittleEndian.Uint32(r0[tx.i0:])
			c := binary.LittleEndian.Uint32(r0[tx.i1:])
			d := binary.LittleEndian.Uint32(r1[tx.i0:])
			e := binary.LittleEndian.Uint32(r1[tx.i1:])
			wx1 := uint64(tx.w)
			wx0 := resizeOne - wx1
			var v [3]uint32
			for k := range v {
				sh := 8 * k
				ch := func(p uint32) uint64 { return uint64(p >> sh & 0xff) }
				v[k] = uint32((ch(a)*wx0+ch(c)*wx1)*wy0 + (ch(d)*wx0+ch(e)*wx1)*wy1)
			}
			i := y*w + x
			if l.Order == Gray {
				dst[i] = (0.299*float32(v[0])+0.587*float32(v[1])+0.114*float32(v[2]))*kk - mb
				continue
			}
			dst[p0+i] = float32(v[0])*kk - mb
			dst[p1+i] = float32(v[1])*kk - mb
			dst[p2+i] = float32(v[2])*kk - mb
		}
	}
}

// rowCases add to resizeCases geometries where consecutive output rows
// share source rows (upscales, rows clamped at the border) and a
// sub-image source.
var rowCases = []struct {
	name       string
	srcW, srcH int
	crop       Box
	l          TensorLayout
}{
	{"upscale 3x", 40, 30, Box{0, 0, 40, 30}, TensorLayout{120, 90, RGB, 127, 1.0 / 128, false}},
	{"upscale grey", 50, 50, Box{3.5, 7.25, 20, 20}, TensorLayout{64, 64, Gray, 0, 1.0 / 256, false}},
	{"past every edge", 60, 80, Box{-30, -40, 120, 160}, TensorLayout{32, 32, BGR, 0, 1, false}},
	{"identity", 33, 17, Box{0, 0, 33, 17}, TensorLayout{33, 17, RGB, 0, 1, false}},
	{"one row", 64, 1, Box{0, 0, 64, 1}, TensorLayout{16, 4, RGB, 0, 1, false}},
}

// TestResizerRowsMatchFourTap: the row pass gives bit-identical values to
// sampling each output pixel's four source pixels, for every geometry of
// resizeCases and rowCases, on whole images and sub-images, by both the
// row pass and the per-pixel one.
func TestResizerRowsMatchFourTap(t *testing.T) {
	cases := append(append(rowCases[:0:0], resizeCases...), rowCases...)
	paths := map[bool]int{} // rowsShared → cases
	defer func() {
		if paths[true] < 4 || paths[false] < 4 {
			t.Errorf("cases by the row pass %d, per pixel %d: want both exercised", paths[true], paths[false])
		}
	}()
	var r Resizer // one Resizer across cases: taps and rows follow the geometry
	for i, c := range cases {
		for _, sub := range []bool{false, true} {
			name := c.name
			src := noise(c.srcW, c.srcH, uint64(i))
			if sub {
				name += "/sub-image"
				big := noise(c.srcW+5, c.srcH+3, uint64(50+i))
				src = big.SubImage(image.Rect(3, 2, 3+c.srcW, 2+c.srcH)).(*image.RGBA)
			}
			t.Run(name, func(t *testing.T) {
				got := make([]float32, c.l.Len())
				want := make([]float32, c.l.Len())
				if err := r.Resize(got, src, c.crop, c.l); err != nil {
					t.Fatal(err)
				}
				if r.box2 {
					return // the exact 2× reduction, a third path: TestResizerBox2Exact checks it
				}
				paths[r.rowsShared]++
				fourTap(want, src, &r, c.l)
				for j := range want {
					if got[j] != want[j] {
						t.Fatalf("value %d = %v, want %v", j, got[j], want[j])
					}
				}
			})
		}
	}
}

// TestResizerRowsFollowTheSource: a second call with the same geometry
// on changed pixels gives the new image's values (no source row is kept
// from the previous call).
func TestResizerRowsFollowTheSource(t *testing.T) {
	l := TensorLayout{64, 48, RGB, 0, 1, false}
	crop := Box{0, 0, 32, 24}
	var r Resizer
	got := make([]float32, l.Len())
	want := make([]float32, l.Len())
	for seed := range uint64(3) {
		src := noise(32, 24, seed)
		if err := r.Resize(got, src, crop, l); err != nil {
			t.Fatal(err)
		}
		fourTap(want, src, &r, l)
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("image %d: value %d = %v, want %v", seed, j, got[j], want[j])
			}
		}
	}
}
