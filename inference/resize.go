package inference

import (
	"encoding/binary"
	"fmt"
	"image"
	"sync"
)

// resizeBits is the fixed-point precision of the bilinear weights: each
// weight is a multiple of 1/2048 (11 bits, as OpenCV's
// INTER_RESIZE_COEF_BITS). A weight is off by at most 1/4096, so an
// interpolated level (0–255) is off by at most 255/4096 per axis, ≤ 0.125
// in all, from the float64-weighted bilinear sample.
const resizeBits = 11

const resizeOne = 1 << resizeBits

// tap is the pair of source samples and the weight of the second that
// make one output coordinate: out = s[i0]·(1 − w/2048) + s[i1]·w/2048.
// For columns i0 and i1 are byte offsets into a row (4 × x), for rows
// they are row indexes.
type tap struct {
	i0, i1 int32
	w      int32
}

// Resizer is ResizeInto with its sampling taps kept from one call to the
// next: a model that resizes same-sized frames to its input (the detector's
// 320×240, every frame) computes the per-column and per-row source
// positions and weights once. The zero value is ready; a Resizer is not
// safe for concurrent use (each model keeps its own under its session
// lock).
//
// Bilinear sampling uses fixed-point weights (resizeBits) on the 8-bit
// source levels. Where the region is shrunk exactly 2× in both directions
// from whole-pixel offsets inside the image (a 640×480 frame to the
// detector's 320×240), every output pixel is the mean of a 2×2 block, which
// is what pixel-centre bilinear sampling gives there; Resize then adds the
// four levels and looks the normalised value up in a table, with no
// rounding at all (bit-identical to the float path).
type Resizer struct {
	key    resizeKey
	xs, ys []tap
	box2   bool
	// lut2 maps the sum of four levels (0–1020) to the normalised value
	// of their mean for the layout of key (for Gray, to the mean itself:
	// the luma weights and normalisation follow); nil until a 2× reduction.
	lut2 *[1024]float32
	// rows caches the horizontal pass of the last two source rows of
	// the current call (resize_rows.go).
	rows rowCache
	// rowsShared: most output rows share a source row with the previous
	// one (upscaling), so the row pass (bilinearRows) interpolates each
	// source row once.
	rowsShared bool
}

type resizeKey struct {
	srcW, srcH int
	crop       Box
	l          TensorLayout
}

// resizerPool serves ResizeInto, which keeps no state between calls.
var resizerPool = sync.Pool{New: func() any { return new(Resizer) }}

// Resize is ResizeInto (same arguments, errors and result within the
// stated tolerance) reusing the taps of the previous call when the source
// size, crop and layout are the same. It does not allocate after the
// first call with a given output size.
func (r *Resizer) Resize(dst []float32, src *image.RGBA, crop Box, l TensorLayout) error {
	if len(dst) != l.Len() {
		return fmt.Errorf("resize: tensor has %d values, layout needs %d", len(dst), l.Len())
	}
	if !l.Order.Valid() || l.Width <= 0 || l.Height <= 0 {
		return fmt.Errorf("resize: invalid layout %+v", l)
	}
	b := src.Rect
	if b.Empty() || crop.W <= 0 || crop.H <= 0 {
		return fmt.Errorf("resize: empty source %v or crop %+v", b, crop)
	}
	sx := crop.W / float64(l.Width)
	sy := crop.H / float64(l.Height)
	if l.Antialias && (sx > 1.5 || sy > 1.5) {
		resizeArea(dst, src, crop, l, sx, sy)
		return nil
	}
	k := resizeKey{srcW: b.Dx(), srcH: b.Dy(), crop: crop, l: l}
	if k != r.key || r.xs == nil {
		r.prepare(k, sx, sy)
	}
	if r.box2 {
		r.box2x(dst, src, l)
		return nil
	}
	if r.rowsShared {
		r.bilinearRows(dst, src, l)
		return nil
	}
	r.bilinear(dst, src, l)
	return nil
}

// prepare computes the taps for k.
func (r *Resizer) prepare(k resizeKey, sx, sy float64) {
	r.key = k
	l, crop := k.l, k.crop
	r.xs = fillTaps(r.xs, l.Width, crop.X, sx, k.srcW-1, 4)
	r.ys = fillTaps(r.ys, l.Height, crop.Y, sy, k.srcH-1, 1)
	r.rows.size(l.Width)
	shared := 0
	for i := 1; i < len(r.ys); i++ {
		if t, p := r.ys[i], r.ys[i-1]; t.i0 == p.i0 || t.i0 == p.i1 || t.i1 == p.i1 {
			shared++
		}
	}
	r.rowsShared = 2*shared > len(r.ys)
	r.box2 = sx == 2 && sy == 2 && crop.X == float64(int(crop.X)) && crop.Y == float64(int(crop.Y)) &&
		crop.X >= 0 && crop.Y >= 0 && crop.X+crop.W <= float64(k.srcW) && crop.Y+crop.H <= float64(k.srcH)
	if r.box2 {
		if r.lut2 == nil {
			r.lut2 = new([1024]float32)
		}
		for s := range 1021 {
			// The float path's value: the exact mean s/4, then the
			// normalisation (Gray applies it after the luma weights).
			c := float32(s) * 0.25
			if l.Order == Gray {
				r.lut2[s] = c
			} else {
				r.lut2[s] = (c - l.Mean) * l.Scale
			}
		}
	}
}

// fillTaps computes n taps of pixel-centre bilinear sampling: output i
// samples origin + (i+0.5)·step − 0.5, clamped to [0, max]; indexes are
// multiplied by mul.
func fillTaps(ts []tap, n int, origin, step float64, max, mul int) []tap {
	if cap(ts) < n {
		ts = make([]tap, n)
	}
	ts = ts[:n]
	for i := range ts {
		f := origin + (float64(i)+0.5)*step - 0.5
		i0, w := splitCoord(f, max)
		i1 := min(i0+1, max)
		wq := int32(float64(w)*resizeOne + 0.5)
		if w == 0 {
			wq = 0
		}
		ts[i] = tap{i0: int32(i0 * mul), i1: int32(i1 * mul), w: wq}
	}
	return ts
}

// bilinear samples with the fixed-point taps of r, each output pixel from
// its four source pixels.
func (r *Resizer) bilinear(dst []float32, src *image.RGBA, l TensorLayout) {
	b := src.Rect
	w := l.Width
	plane := w * l.Height
	// v is a level × 2^(2·resizeBits); out = v·kk − mb = (v/2^22 − Mean)·Scale.
	kk := l.Scale / float32(resizeOne*resizeOne)
	mb := l.Mean * l.Scale
	p0, p1, p2 := 0, plane, 2*plane // planes of R, G, B in dst
	if l.Order == BGR {
		p0, p2 = 2*plane, 0
	}
	rowBytes := 4 * b.Dx()
	for y, ty := range r.ys {
		o0 := src.PixOffset(b.Min.X, b.Min.Y+int(ty.i0))
		o1 := src.PixOffset(b.Min.X, b.Min.Y+int(ty.i1))
		r0 := src.Pix[o0 : o0+rowBytes : o0+rowBytes]
		r1 := src.Pix[o1 : o1+rowBytes : o1+rowBytes]
		wy1 := uint64(ty.w)
		wy0 := resizeOne - wy1
		row := y * w
		if l.Order == Gray {
			out := dst[row : row+w]
			xs := r.xs[:len(out)]
			for x, tx := range xs {
				// One 32-bit load per source pixel (R, G, B, A little-endian);
				// red and blue are interpolated together in the two 32-bit
				// lanes of a uint64 (each lane stays below 2^30).
				a := binary.LittleEndian.Uint32(r0[tx.i0:])
				c := binary.LittleEndian.Uint32(r0[tx.i1:])
				d := binary.LittleEndian.Uint32(r1[tx.i0:])
				e := binary.LittleEndian.Uint32(r1[tx.i1:])
				wx1 := uint64(tx.w)
				wx0 := resizeOne - wx1
				rb := (rbLanes(a)*wx0+rbLanes(c)*wx1)*wy0 + (rbLanes(d)*wx0+rbLanes(e)*wx1)*wy1
				vr, vb := uint32(rb), uint32(rb>>32)
				vg := uint32((uint64(a>>8&0xff)*wx0+uint64(c>>8&0xff)*wx1)*wy0 +
					(uint64(d>>8&0xff)*wx0+uint64(e>>8&0xff)*wx1)*wy1)
				out[x] = (0.299*float32(vr)+0.587*float32(vg)+0.114*float32(vb))*kk - mb
			}
			continue
		}
		dr := dst[p0+row : p0+row+w]
		dg, db := dst[p1+row:p1+row+w], dst[p2+row:p2+row+w]
		dg, db = dg[:len(dr)], db[:len(dr)]
		xs := r.xs[:len(dr)]
		for x, tx := range xs {
			// One 32-bit load per source pixel (R, G, B, A little-endian);
			// red and blue are interpolated together in the two 32-bit
			// lanes of a uint64 (each lane stays below 2^30).
			a := binary.LittleEndian.Uint32(r0[tx.i0:])
			c := binary.LittleEndian.Uint32(r0[tx.i1:])
			d := binary.LittleEndian.Uint32(r1[tx.i0:])
			e := binary.LittleEndian.Uint32(r1[tx.i1:])
			wx1 := uint64(tx.w)
			wx0 := resizeOne - wx1
			rb := (rbLanes(a)*wx0+rbLanes(c)*wx1)*wy0 + (rbLanes(d)*wx0+rbLanes(e)*wx1)*wy1
			vr, vb := uint32(rb), uint32(rb>>32)
			vg := uint32((uint64(a>>8&0xff)*wx0+uint64(c>>8&0xff)*wx1)*wy0 +
				(uint64(d>>8&0xff)*wx0+uint64(e>>8&0xff)*wx1)*wy1)
			dr[x] = float32(vr)*kk - mb
			dg[x] = float32(vg)*kk - mb
			db[x] = float32(vb)*kk - mb
		}
	}
}

// rbLanes spreads the red and blue bytes of a little-endian RGBA pixel
// into the low bits of the two 32-bit lanes of a uint64.
func rbLanes(p uint32) uint64 { return uint64(p&0xff) | uint64(p&0xff0000)<<16 }
