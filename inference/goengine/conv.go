package goengine

import (
	"math"
	"sync"
)

// act is an activation fused into the kernel that produces its input.
type act struct {
	kind  actKind
	alpha float32   // LeakyRelu slope
	lo    float32   // Clip bounds
	hi    float32   //
	slope []float32 // PRelu slope per channel (len 1: shared)
}

type actKind uint8

const (
	actNone actKind = iota
	actRelu
	actClip
	actLeaky
	actPRelu
)

// apply runs the activation on the values of channel ch.
func (a *act) apply(v []float32, ch int) {
	switch a.kind {
	case actNone:
	case actRelu:
		relu(v)
	default:
		a.applyBias(v, ch, 0, false)
	}
}

// applyBias adds bv to the values of channel ch (when add is set) and runs
// the activation, in one pass. The selections are branch-free (sign-bit
// masks, min/max): on activations about half of the signs are unpredictable.
func (a *act) applyBias(v []float32, ch int, bv float32, add bool) {
	if add {
		for i := range v {
			v[i] += bv
		}
	}
	switch a.kind {
	case actRelu:
		relu(v)
	case actClip:
		lo, hi := a.lo, a.hi
		for i, x := range v {
			v[i] = min(max(x, lo), hi)
		}
	case actLeaky:
		negScale(v, a.alpha)
	case actPRelu:
		s := a.slope[0]
		if len(a.slope) > 1 {
			s = a.slope[ch]
		}
		negScale(v, s)
	}
}

// relu sets the negative values of v (and −0) to +0, without branches.
func relu(v []float32) {
	for i, x := range v {
		u := math.Float32bits(x)
		v[i] = math.Float32frombits(u &^ uint32(int32(u)>>31))
	}
}

// negScale multiplies the negative values of v by s, without branches.
func negScale(v []float32, s float32) {
	for i, x := range v {
		u := math.Float32bits(x)
		m := uint32(int32(u) >> 31)
		v[i] = math.Float32frombits(math.Float32bits(x*s)&m | u&^m)
	}
}

// convK is a 2-D convolution on NCHW float32 with weights [M, C/group, KH,
// KW], explicit padding (SAME is resolved to pads at load), strides,
// dilations, groups, bias and a fused activation. Grouped convolutions with
// one input channel per group (depthwise) run a direct kernel; the others run
// im2col + GEMM per group, without im2col for 1×1 stride-1 unpadded ones.
type convK struct {
	in, out []float32
	w, bias []float32
	act     act

	n, c, h, wd, m, oh, ow int
	kh, kw, sh, sw, dh, dw int
	pt, pl, group          int
	pointwise, depthwise   bool
	col                    []float32 // im2col scratch, (C/group·KH·KW) × (OH·OW)
	zero                   []float32 // a zero input row for depthwise3x3's padding

	// state of the current parallel phase
	mode      int
	inG, outG []float32
	wG        []float32
	mG, chOff int
	wg        sync.WaitGroup
}

const (
	modeIm2col = iota
	modeRows
	modeCols
	modeDepthwise
)

func (k *convK) kdim() int { return k.c / k.group * k.kh * k.kw }

func (k *convK) run() {
	if k.depthwise {
		k.mode = modeDepthwise
		parallel(k, k.n*k.m, 4, 0, &k.wg)
		return
	}
	cg, mg := k.c/k.group, k.m/k.group
	kd := k.kdim()
	npix := k.oh * k.ow
	for b := 0; b < k.n; b++ {
		for g := 0; g < k.group; g++ {
			k.inG = k.in[(b*k.c+g*cg)*k.h*k.wd : (b*k.c+(g+1)*cg)*k.h*k.wd]
			k.outG = k.out[(b*k.m+g*mg)*npix : (b*k.m+(g+1)*mg)*npix]
			k.wG = k.w[g*mg*kd : (g+1)*mg*kd]
			k.chOff = g * mg
			k.mG = mg
			if !k.pointwise {
				k.mode = modeIm2col
				parallel(k, kd, 8, 0, &k.wg)
			}
			if npix >= 64*mg || npix >= 2048 {
				k.mode = modeCols
				parallel(k, npix, 64, 0, &k.wg)
			} else {
				k.mode = modeRows
				parallel(k, mg, 4, 0, &k.wg)
			}
		}
	}
}

func (k *convK) runRange(lo, hi int) {
	npix := k.oh * k.ow
	switch k.mode {
	case modeIm2col:
		k.im2col(lo, hi)
	case modeRows, modeCols:
		b := k.col
		if k.pointwise {
			b = k.inG
		}
		i0, i1, j0, j1 := lo, hi, 0, npix
		if k.mode == modeCols {
			i0, i1, j0, j1 = 0, k.mG, lo, hi
		}
		kd := k.kdim()
		var bias []float32
		if k.bias != nil {
			bias = k.bias[k.chOff : k.chOff+k.mG]
		}
		gemmAct(k.wG, kd, b, npix, k.outG, npix, kd, i0, i1, j0, j1, bias, &k.act, k.chOff)
	case modeDepthwise:
		for idx := lo; idx < hi; idx++ {
			k.depthwiseChannel(idx/k.m, idx%k.m)
		}
	}
}

// im2col fills rows [lo, hi) of the column matrix: row (c·KH+ky)·KW+kx holds
// the input pixel each output pixel sees through tap (ky, kx) of channel c,
// 0 in the padding.
func (k *convK) im2col(lo, hi int) {
	npix := k.oh * k.ow
	for r := lo; r < hi; r++ {
		kx := r % k.kw
		ky := (r / k.kw) % k.kh
		c := r / (k.kw * k.kh)
		plane := k.inG[c*k.h*k.wd : (c+1)*k.h*k.wd]
		dst := k.col[r*npix : (r+1)*npix]
		oxLo, oxHi := validRange(k.ow, k.wd, k.sw, kx*k.dw-k.pl)
		for oy := 0; oy < k.oh; oy++ {
			row := dst[oy*k.ow : (oy+1)*k.ow]
			iy := oy*k.sh - k.pt + ky*k.dh
			if iy < 0 || iy >= k.h {
				clear(row)
				continue
			}
			clear(row[:oxLo])
			clear(row[oxHi:])
			src := plane[iy*k.wd:]
			off := kx*k.dw - k.pl
			if k.sw == 1 {
				copy(row[oxLo:oxHi], src[oxLo+off:oxHi+off])
				continue
			}
			for ox := oxLo; ox < oxHi; ox++ {
				row[ox] = src[ox*k.sw+off]
			}
		}
	}
}

// validRange returns the output columns [lo, hi) whose input column
// ox·stride+off lies inside [0, in).
func validRange(out, in, stride, off int) (int, int) {
	lo := 0
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	hi := 0
	if in-1-off >= 0 {
		hi = (in-1-off)/stride + 1
	}
	hi = min(hi, out)
	lo = min(lo, hi)
	return lo, hi
}

// depthwiseChannel computes output channel oc of batch b of a grouped
// convolution with one input channel per group.
func (k *convK) depthwiseChannel(b, oc int) {
	mult := k.m / k.c
	ic := oc / mult
	plane := k.in[(b*k.c+ic)*k.h*k.wd : (b*k.c+ic+1)*k.h*k.wd]
	out := k.out[(b*k.m+oc)*k.oh*k.ow : (b*k.m+oc+1)*k.oh*k.ow]
	var bv float32
	if k.bias != nil {
		bv = k.bias[oc]
	}
	w := k.w[oc*k.kh*k.kw : (oc+1)*k.kh*k.kw]
	if k.kh == 3 && k.kw == 3 && k.dh == 1 && k.dw == 1 && k.zero != nil {
		// writes every output pixel and runs the activation row by row
		if useAVX2 && (k.sw == 1 || k.sw == 2) && 2*(k.pl+k.wd+2) <= dwSmallW {
			k.depthwise3x3Small(plane, out, w, bv, oc)
		} else {
			k.depthwise3x3(plane, out, w, bv, oc)
		}
		return
	}
	for i := range out {
		out[i] = bv
	}
	for ky := 0; ky < k.kh; ky++ {
		for kx := 0; kx < k.kw; kx++ {
			wv := w[ky*k.kw+kx]
			off := kx*k.dw - k.pl
			oxLo, oxHi := validRange(k.ow, k.wd, k.sw, off)
			if oxLo >= oxHi {
				continue
			}
			for oy := 0; oy < k.oh; oy++ {
				iy := oy*k.sh - k.pt + ky*k.dh
				if iy < 0 || iy >= k.h {
					continue
				}
				src := plane[iy*k.wd:]
				dst := out[oy*k.ow+oxLo : oy*k.ow+oxHi]
				if k.sw == 1 {
					s := src[oxLo+off : oxHi+off]
					s = s[:len(dst)]
					for i, x := range s {
						dst[i] += wv * x
					}
					continue
				}
				base := oxLo*k.sw + off
				for i := range dst {
					dst[i] += wv * src[base+i*k.sw]
				}
			}
		}
	}
	k.act.apply(out, oc)
}

// depthwise3x3 is depthwiseChannel for 3×3 undilated kernels: each output
// pixel is summed in registers from three input rows (a padded row reads
// k.zero) in one pass; columns whose taps cross the left or right edge take
// the bounds-checked path. The activation (as channel oc) runs on each row
// while it is in cache.
func (k *convK) depthwise3x3(plane, out, w []float32, bv float32, oc int) {
	w0, w1, w2, w3, w4, w5, w6, w7, w8 := w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]
	wd, sw := k.wd, k.sw
	// interior: ix = ox·sw − pl ≥ 0 and ix + 2 ≤ wd − 1
	oxLo := (k.pl + sw - 1) / sw
	oxHi := 0
	if wd-3+k.pl >= 0 {
		oxHi = (wd-3+k.pl)/sw + 1
	}
	oxHi = min(oxHi, k.ow)
	oxLo = min(oxLo, oxHi)
	row := func(iy int) []float32 {
		if iy < 0 || iy >= k.h {
			return k.zero[:wd]
		}
		return plane[iy*wd : (iy+1)*wd]
	}
	// A ReLU is fused into the row kernels (values below lo = 0 are
	// raised); the other activations run on the whole row afterwards.
	lo, fused := float32(math.Inf(-1)), k.act.kind == actRelu
	if fused {
		lo = 0
	}
	for oy := 0; oy < k.oh; oy++ {
		iy := oy*k.sh - k.pt
		r0, r1, r2 := row(iy), row(iy+1), row(iy+2)
		ox0 := oxLo // the row kernels did [oxLo, ox0)
		dst := out[oy*k.ow : (oy+1)*k.ow]
		edge := func(ox int) {
			s := bv
			for kx := 0; kx < 3; kx++ {
				ix := ox*sw - k.pl + kx
				if ix < 0 || ix >= wd {
					continue
				}
				s += w[kx]*r0[ix] + w[3+kx]*r1[ix] + w[6+kx]*r2[ix]
			}
			dst[ox] = s
		}
		for ox := 0; ox < oxLo; ox++ {
			edge(ox)
		}
		if sw == 1 {
			off := -k.pl
			if oxHi > oxLo {
				ix := oxLo + off
				ox0 += depthwiseRowFast(r0[ix:], r1[ix:], r2[ix:], dst[oxLo:oxHi], w, bv, lo)
				// the tail as the 8 outputs ending at oxHi, rewriting
				// some already done with the same values
				if t := oxHi - 8; ox0 < oxHi && t >= oxLo &&
					depthwiseRowFast(r0[t+off:], r1[t+off:], r2[t+off:], dst[t:oxHi], w, bv, lo) == 8 {
					ox0 = oxHi
				}
			}
			for ox := ox0; ox < oxHi; ox++ {
				ix := ox + off
				a, b, c := r0[ix:ix+3], r1[ix:ix+3], r2[ix:ix+3]
				dst[ox] = bv + w0*a[0] + w1*a[1] + w2*a[2] + w3*b[0] + w4*b[1] + w5*b[2] + w6*c[0] + w7*c[1] + w8*c[2]
			}
		} else {
			if sw == 2 && oxHi > oxLo {
				ix := oxLo*2 - k.pl
				ox0 += depthwiseRowFastS2(r0[ix:], r1[ix:], r2[ix:], dst[oxLo:oxHi], w, bv, lo)
				if t := oxHi - 8; ox0 < oxHi && t >= oxLo {
					it := t*2 - k.pl
					if depthwiseRowFastS2(r0[it:], r1[it:], r2[it:], dst[t:oxHi], w, bv, lo) == 8 {
						ox0 = oxHi
					}
				}
			}
			for ox := ox0; ox < oxHi; ox++ {
				ix := ox*sw - k.pl
				a, b, c := r0[ix:ix+3], r1[ix:ix+3], r2[ix:ix+3]
				dst[ox] = bv + w0*a[0] + w1*a[1] + w2*a[2] + w3*b[0] + w4*b[1] + w5*b[2] + w6*c[0] + w7*c[1] + w8*c[2]
			}
		}
		for ox := oxHi; ox < k.ow; ox++ {
			edge(ox)
		}
		if fused {
			relu(dst[:oxLo])
			relu(dst[ox0:])
		} else {
			k.act.apply(dst, oc)
		}
	}
}

// poolK is MaxPool / AveragePool on NCHW with explicit pads; padded cells
// never win a max and count in an average only with countPad.
type poolK struct {
	in, out                []float32
	n, c, h, w, oh, ow     int
	kh, kw, sh, sw, pt, pl int
	max, countPad, global  bool
	wg                     sync.WaitGroup
}

func (k *poolK) run() { parallel(k, k.n*k.c, 8, 0, &k.wg) }

func (k *poolK) runRange(lo, hi int) {
	for p := lo; p < hi; p++ {
		plane := k.in[p*k.h*k.w : (p+1)*k.h*k.w]
		out := k.out[p*k.oh*k.ow : (p+1)*k.oh*k.ow]
		if k.global {
			var s float32
			for _, x := range plane {
				s += x
			}
			out[0] = s / float32(len(plane))
			continue
		}
		for oy := 0; oy < k.oh; oy++ {
			for ox := 0; ox < k.ow; ox++ {
				y0, x0 := oy*k.sh-k.pt, ox*k.sw-k.pl
				y1, x1 := min(y0+k.kh, k.h), min(x0+k.kw, k.w)
				cnt := k.kh * k.kw
				y0, x0 = max(y0, 0), max(x0, 0)
				if !k.countPad {
					cnt = (y1 - y0) * (x1 - x0)
				}
				acc := float32(0)
				if k.max {
					acc = float32(math.Inf(-1))
				}
				for y := y0; y < y1; y++ {
					for _, v := range plane[y*k.w+x0 : y*k.w+x1] {
						if k.max {
							if v > acc {
								acc = v
							}
						} else {
							acc += v
						}
					}
				}
				if !k.max {
					acc /= float32(max(cnt, 1))
				}
				out[oy*k.ow+ox] = acc
			}
		}
	}
}

// dwSmallW is the padded row buffer of depthwise3x3Small, in values.
const dwSmallW = 96

// depthwise3x3Small is depthwise3x3 for narrow rows (2·(pl+W+2) ≤
// dwSmallW) and strides 1 and 2 on CPUs with the row kernels: the three
// input rows of each output row are copied into zero-padded buffers on the
// stack, so the row kernels compute every output pixel (the last group of 8
// overlapping the previous one, or through a stack tile when the row is
// narrower than 8) with no edge cases.
func (k *convK) depthwise3x3Small(plane, out, w []float32, bv float32, oc int) {
	var buf [3][dwSmallW]float32
	var tile [8]float32
	lo, fused := float32(math.Inf(-1)), k.act.kind == actRelu
	if fused {
		lo = 0
	}
	wd, sw, ow := k.wd, k.sw, k.ow
	for oy := 0; oy < k.oh; oy++ {
		for r := range buf {
			row := buf[r][:]
			clear(row)
			if iy := oy*k.sh - k.pt + r; iy >= 0 && iy < k.h {
				copy(row[k.pl:], plane[iy*wd:(iy+1)*wd])
			}
		}
		dst := out[oy*ow : (oy+1)*ow]
		var done int
		if sw == 1 {
			done = depthwiseRowFast(buf[0][:], buf[1][:], buf[2][:], dst, w, bv, lo)
		} else {
			done = depthwiseRowFastS2(buf[0][:], buf[1][:], buf[2][:], dst, w, bv, lo)
		}
		if done < ow {
			start := max(ow-8, 0)
			o := start * sw
			if sw == 1 {
				depthwiseRowFast(buf[0][o:], buf[1][o:], buf[2][o:], tile[:], w, bv, lo)
			} else {
				depthwiseRowFastS2(buf[0][o:], buf[1][o:], buf[2][o:], tile[:], w, bv, lo)
			}
			copy(dst[start:], tile[:ow-start])
		}
		if !fused {
			k.act.apply(dst, oc)
		}
	}
}
