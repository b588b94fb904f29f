package inference

import (
	"encoding/binary"
	"image"
)

// rowCache holds the horizontal pass of up to two source rows: for each
// output column, the red and blue levels interpolated between the
// column's two taps in the two 32-bit lanes of a uint64 (rb) and the
// green level alone (g), each a level × 2^resizeBits (< 2^19). An output
// row is the vertical blend of two such rows, so a source row shared by
// consecutive output rows (upscaling, clamped borders) is interpolated
// once. The integers are those of sampling the four pixels directly:
// (a·wx0 + c·wx1)·wy0 + (d·wx0 + e·wx1)·wy1.
type rowCache struct {
	src [2]int // source row of each slot; -1 empty
	rb  [2][]uint64
	g   [2][]uint32
}

// size makes room for rows of w output columns.
func (c *rowCache) size(w int) {
	for k := range c.rb {
		if cap(c.rb[k]) < w {
			c.rb[k] = make([]uint64, w)
			c.g[k] = make([]uint32, w)
		}
		c.rb[k], c.g[k] = c.rb[k][:w], c.g[k][:w]
	}
	c.reset()
}

// reset forgets the cached rows (the source pixels may have changed since
// the last call).
func (c *rowCache) reset() { c.src = [2]int{-1, -1} }

// find returns the slot holding source row y, or -1.
func (c *rowCache) find(y int) int {
	switch y {
	case c.src[0]:
		return 0
	case c.src[1]:
		return 1
	}
	return -1
}

// slots returns the slots holding source rows y0 and y1 (equal when
// y0 == y1), interpolating the missing ones from src with the column
// taps xs.
func (c *rowCache) slots(src *image.RGBA, xs []tap, y0, y1 int) (s0, s1 int) {
	s0, s1 = c.find(y0), c.find(y1)
	if s0 < 0 {
		s0 = 0
		if s1 == 0 {
			s0 = 1
		}
		c.fill(s0, src, xs, y0)
		if y1 == y0 {
			s1 = s0
		}
	}
	if s1 < 0 {
		s1 = 1 - s0
		c.fill(s1, src, xs, y1)
	}
	return s0, s1
}

// fill interpolates source row y of src horizontally into slot k.
func (c *rowCache) fill(k int, src *image.RGBA, xs []tap, y int) {
	b := src.Rect
	o := src.PixOffset(b.Min.X, b.Min.Y+y)
	n := 4 * b.Dx()
	row := src.Pix[o : o+n : o+n]
	rb := c.rb[k][:len(xs)]
	g := c.g[k][:len(xs)]
	for x, tx := range xs {
		// One 32-bit load per source pixel (R, G, B, A little-endian).
		p := binary.LittleEndian.Uint32(row[tx.i0:])
		q := binary.LittleEndian.Uint32(row[tx.i1:])
		w1 := uint64(tx.w)
		w0 := resizeOne - w1
		rb[x] = rbLanes(p)*w0 + rbLanes(q)*w1
		g[x] = uint32(uint64(p>>8&0xff)*w0 + uint64(q>>8&0xff)*w1)
	}
	c.src[k] = y
}

// bilinearRows is bilinear blending, for each output row, two
// horizontally interpolated source rows (rowCache), each computed once
// however many output rows use it: for upscales, where consecutive output
// rows share source rows. Values are bit-identical to bilinear's.
func (r *Resizer) bilinearRows(dst []float32, src *image.RGBA, l TensorLayout) {
	w := l.Width
	plane := w * l.Height
	// v is a level × 2^(2·resizeBits); out = v·kk − mb = (v/2^22 − Mean)·Scale.
	kk := l.Scale / float32(resizeOne*resizeOne)
	mb := l.Mean * l.Scale
	p0, p1, p2 := 0, plane, 2*plane // planes of R, G, B in dst
	if l.Order == BGR {
		p0, p2 = 2*plane, 0
	}
	c := &r.rows
	c.reset()
	for y, ty := range r.ys {
		s0, s1 := c.slots(src, r.xs, int(ty.i0), int(ty.i1))
		wy1 := uint32(ty.w)
		wy0 := resizeOne - wy1
		row := y * w
		if l.Order == Gray {
			d := dst[row : row+w]
			rb0, rb1, g0, g1 := c.rb[s0][:len(d)], c.rb[s1][:len(d)], c.g[s0][:len(d)], c.g[s1][:len(d)]
			for x := range d {
				// Red and blue blend in the two lanes (each < 2^30).
				rb := rb0[x]*uint64(wy0) + rb1[x]*uint64(wy1)
				vr, vb := uint32(rb), uint32(rb>>32)
				vg := g0[x]*wy0 + g1[x]*wy1
				d[x] = (0.299*float32(vr)+0.587*float32(vg)+0.114*float32(vb))*kk - mb
			}
			continue
		}
		dr := dst[p0+row : p0+row+w]
		dg := dst[p1+row : p1+row+w]
		db := dst[p2+row : p2+row+w]
		dg, db = dg[:len(dr)], db[:len(dr)]
		rb0, rb1, g0, g1 := c.rb[s0][:len(dr)], c.rb[s1][:len(dr)], c.g[s0][:len(dr)], c.g[s1][:len(dr)]
		for x := range dr {
			rb := rb0[x]*uint64(wy0) + rb1[x]*uint64(wy1)
			dr[x] = float32(uint32(rb))*kk - mb
			dg[x] = float32(g0[x]*wy0+g1[x]*wy1)*kk - mb
			db[x] = float32(uint32(rb>>32))*kk - mb
		}
	}
}

// box2x writes the 2×2 block means (r.box2): one 64-bit load reads two
// pixels, and the red+blue and green+alpha levels of the four pixels of a
// block are added in 16-bit lanes (each sum ≤ 1020) and looked up in
// r.lut2.
func (r *Resizer) box2x(dst []float32, src *image.RGBA, l TensorLayout) {
	b := src.Rect
	w := l.Width
	plane := w * l.Height
	x0, y0 := int(r.key.crop.X), int(r.key.crop.Y)
	lut := r.lut2
	p0, p1, p2 := 0, plane, 2*plane
	if l.Order == BGR {
		p0, p2 = 2*plane, 0
	}
	for y := 0; y < l.Height; y++ {
		o0 := src.PixOffset(b.Min.X+x0, b.Min.Y+y0+2*y)
		o1 := o0 + src.Stride
		r0 := src.Pix[o0 : o0+8*w : o0+8*w]
		r1 := src.Pix[o1 : o1+8*w : o1+8*w]
		row := y * w
		if l.Order == Gray {
			d := dst[row : row+w]
			for x := range d {
				sr, sg, sb := blockSums(r0[8*x:], r1[8*x:])
				d[x] = (0.299*lut[sr] + 0.587*lut[sg] + 0.114*lut[sb] - l.Mean) * l.Scale
			}
			continue
		}
		dr := dst[p0+row : p0+row+w]
		dg := dst[p1+row : p1+row+w]
		db := dst[p2+row : p2+row+w]
		dg, db = dg[:len(dr)], db[:len(dr)]
		for x := range dr {
			sr, sg, sb := blockSums(r0[8*x:], r1[8*x:])
			dr[x], dg[x], db[x] = lut[sr], lut[sg], lut[sb]
		}
	}
}

// blockSums returns the sums of the red, green and blue levels of the
// 2×2 block made of the first two pixels of top and of bottom, each in
// 0–1020 (masked to 10 bits, so they index a [1024] table without a
// bounds check).
func blockSums(top, bottom []byte) (r, g, b uint32) {
	const lanes = 0x00ff00ff_00ff00ff
	t := binary.LittleEndian.Uint64(top)
	u := binary.LittleEndian.Uint64(bottom)
	// 16-bit lanes: R0 B0 R1 B1 and G0 A0 G1 A1, the two rows added.
	rb := t&lanes + u&lanes
	ga := t>>8&lanes + u>>8&lanes
	// Fold the two pixels: the low 32 bits hold R (lane 0) and B (lane 1).
	rb += rb >> 32
	ga += ga >> 32
	return uint32(rb) & 0x3ff, uint32(ga) & 0x3ff, uint32(rb>>16) & 0x3ff
}
