package goengine

import (
	"math"
	"sync"
)

// maxRank bounds the rank of tensors the strided kernels handle.
const maxRank = 6

// binOp is an elementwise binary operator with numpy broadcasting.
type binOp uint8

const (
	binAdd binOp = iota
	binSub
	binMul
	binDiv
	binPRelu // a > 0 ? a : a·b
)

// binK computes out = a ∘ b with broadcasting: astr/bstr are the inputs'
// element strides per output dimension (0 where broadcast), shape the
// output shape, then a fused activation.
type binK struct {
	op         binOp
	a, b, out  []float32
	shape      []int
	astr, bstr []int
	act        act
}

func (k *binK) run() {
	r := len(k.shape)
	inner := k.shape[r-1]
	as, bs := k.astr[r-1], k.bstr[r-1]
	var idx [maxRank]int
	outer := len(k.out) / max(inner, 1)
	for o := 0; o < outer; o++ {
		ao, bo := 0, 0
		for d := 0; d < r-1; d++ {
			ao += idx[d] * k.astr[d]
			bo += idx[d] * k.bstr[d]
		}
		dst := k.out[o*inner : (o+1)*inner]
		binInner(k.op, dst, k.a[ao:], as, k.b[bo:], bs)
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			if idx[d] < k.shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	if k.act.kind != actNone {
		k.act.apply(k.out, 0)
	}
}

func binInner(op binOp, dst, a []float32, as int, b []float32, bs int) {
	n := len(dst)
	if as == 1 && bs == 1 {
		a, b = a[:n], b[:n]
		switch op {
		case binAdd:
			for i := range dst {
				dst[i] = a[i] + b[i]
			}
		case binSub:
			for i := range dst {
				dst[i] = a[i] - b[i]
			}
		case binMul:
			for i := range dst {
				dst[i] = a[i] * b[i]
			}
		case binDiv:
			for i := range dst {
				dst[i] = a[i] / b[i]
			}
		case binPRelu:
			for i := range dst {
				x := a[i]
				if x < 0 {
					x *= b[i]
				}
				dst[i] = x
			}
		}
		return
	}
	if as == 1 && bs == 0 {
		a = a[:n]
		bv := b[0]
		switch op {
		case binAdd:
			for i, x := range a {
				dst[i] = x + bv
			}
		case binSub:
			for i, x := range a {
				dst[i] = x - bv
			}
		case binMul:
			for i, x := range a {
				dst[i] = x * bv
			}
		case binDiv:
			for i, x := range a {
				dst[i] = x / bv
			}
		case binPRelu:
			for i, x := range a {
				if x < 0 {
					x *= bv
				}
				dst[i] = x
			}
		}
		return
	}
	for i := range dst {
		x, y := a[i*as], b[i*bs]
		switch op {
		case binAdd:
			x += y
		case binSub:
			x -= y
		case binMul:
			x *= y
		case binDiv:
			x /= y
		case binPRelu:
			if x < 0 {
				x *= y
			}
		}
		dst[i] = x
	}
}

// unaryOp is an elementwise unary operator.
type unaryOp uint8

const (
	unRelu unaryOp = iota
	unSigmoid
	unExp
	unAbs
	unLeaky
	unClip
	unCopy
)

type unaryK struct {
	op      unaryOp
	in, out []float32
	alpha   float32
	lo, hi  float32
}

func (k *unaryK) run() {
	in := k.in[:len(k.out)]
	switch k.op {
	case unRelu:
		for i, x := range in {
			k.out[i] = max(x, 0)
		}
	case unSigmoid:
		for i, x := range in {
			k.out[i] = float32(1 / (1 + math.Exp(-float64(x))))
		}
	case unExp:
		for i, x := range in {
			k.out[i] = float32(math.Exp(float64(x)))
		}
	case unAbs:
		for i, x := range in {
			k.out[i] = float32(math.Abs(float64(x)))
		}
	case unLeaky:
		for i, x := range in {
			if x < 0 {
				x *= k.alpha
			}
			k.out[i] = x
		}
	case unClip:
		for i, x := range in {
			k.out[i] = min(max(x, k.lo), k.hi)
		}
	case unCopy:
		copy(k.out, in)
	}
}

// stridedK copies a strided view of in into the contiguous out: out element
// at multi-index i comes from in[base + Σ i[d]·str[d]]. It implements
// Transpose, Slice, Gather with a scalar index and NCHW↔NHWC conversion.
type stridedK struct {
	in, out []float32
	base    int
	shape   []int
	str     []int
	wg      sync.WaitGroup
}

func (k *stridedK) run() {
	outer := 1
	if len(k.shape) > 1 {
		outer = k.shape[0]
	}
	parallel(k, outer, 1, 0, &k.wg)
}

func (k *stridedK) runRange(lo, hi int) {
	r := len(k.shape)
	if r == 1 {
		for i := range k.out {
			k.out[i] = k.in[k.base+i*k.str[0]]
		}
		return
	}
	inner := k.shape[r-1]
	is := k.str[r-1]
	per := len(k.out) / k.shape[0]
	for o0 := lo; o0 < hi; o0++ {
		var idx [maxRank]int
		rows := per / max(inner, 1)
		for row := 0; row < rows; row++ {
			off := k.base + o0*k.str[0]
			for d := 1; d < r-1; d++ {
				off += idx[d] * k.str[d]
			}
			dst := k.out[o0*per+row*inner : o0*per+(row+1)*inner]
			if is == 1 {
				copy(dst, k.in[off:off+inner])
			} else {
				for i := range dst {
					dst[i] = k.in[off+i*is]
				}
			}
			for d := r - 2; d >= 1; d-- {
				idx[d]++
				if idx[d] < k.shape[d] {
					break
				}
				idx[d] = 0
			}
		}
	}
}

// concatK joins inputs along an axis: outer = Π dims before the axis, each
// input contributes chunk[i] = its axis dim × Π dims after it per outer step.
type concatK struct {
	ins   [][]float32
	chunk []int
	out   []float32
	outer int
}

func (k *concatK) run() {
	o := 0
	for i := 0; i < k.outer; i++ {
		for j, in := range k.ins {
			c := k.chunk[j]
			copy(k.out[o:o+c], in[i*c:(i+1)*c])
			o += c
		}
	}
}

// softmaxK is softmax over rows of length n (ONNX opset < 13: the input
// coerced to 2-D at the axis).
type softmaxK struct {
	in, out []float32
	n       int
}

func (k *softmaxK) run() {
	if k.n < 1 {
		return
	}
	for r := 0; r+k.n <= len(k.out); r += k.n {
		in, out := k.in[r:r+k.n], k.out[r:r+k.n]
		m := float32(math.Inf(-1))
		for _, x := range in {
			m = max(m, x)
		}
		var s float64
		for i, x := range in {
			e := math.Exp(float64(x - m))
			out[i] = float32(e)
			s += e
		}
		inv := float32(1 / s)
		for i := range out {
			out[i] *= inv
		}
	}
}

// denseK is Gemm / MatMul / FullyConnected with a constant right operand:
// out[M×N] = in[M×K] · w[K×N] + bias[N], then a fused activation.
type denseK struct {
	in, w, bias, out []float32
	m, k, n          int
	act              act
	wg               sync.WaitGroup
}

func (d *denseK) run() { parallel(d, d.n, 64, 0, &d.wg) }

func (d *denseK) runRange(lo, hi int) {
	gemm(d.in, d.k, d.w, d.n, d.out, d.n, d.k, 0, d.m, lo, hi)
	for i := 0; i < d.m; i++ {
		row := d.out[i*d.n : (i+1)*d.n]
		if d.bias != nil {
			for j := lo; j < hi; j++ {
				row[j] += d.bias[j]
			}
		}
		if d.act.kind != actNone {
			d.act.apply(row[lo:hi], 0)
		}
	}
}

// affineK is out = in·scale[c] + shift[c] per channel c of axis 1
// (BatchNormalization in inference mode, folded at load).
type affineK struct {
	in, out      []float32
	scale, shift []float32
	c, inner     int
	act          act
}

func (k *affineK) run() {
	for o := 0; o*k.c*k.inner < len(k.out); o++ {
		for c := 0; c < k.c; c++ {
			base := (o*k.c + c) * k.inner
			s, t := k.scale[c], k.shift[c]
			src, dst := k.in[base:base+k.inner], k.out[base:base+k.inner]
			for i, x := range src {
				dst[i] = x*s + t
			}
			k.act.apply(dst, c)
		}
	}
}

// padK is constant padding: out is zero-filled with value then in is copied
// at offset begin per dimension (rank ≤ 4, pads non-negative).
type padK struct {
	in, out   []float32
	inShape   []int
	outShape  []int
	begin     []int
	value     float32
	outStride []int
}

func (k *padK) run() {
	for i := range k.out {
		k.out[i] = k.value
	}
	r := len(k.inShape)
	inner := k.inShape[r-1]
	rows := len(k.in) / max(inner, 1)
	var idx [maxRank]int
	for row := 0; row < rows; row++ {
		off := k.begin[r-1]
		for d := 0; d < r-1; d++ {
			off += (idx[d] + k.begin[d]) * k.outStride[d]
		}
		copy(k.out[off:off+inner], k.in[row*inner:(row+1)*inner])
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			if idx[d] < k.inShape[d] {
				break
			}
			idx[d] = 0
		}
	}
}
