// Package tflitemodel reads TFLite flatbuffer models (schema v3; accessors
// in tflitefb generated from the official schema.fbs) into the engine's
// graph (inference/goengine/ir). TFLite is NHWC: at load every 4-D tensor
// becomes NCHW (weights transposed, axes and paddings remapped), Transpose
// nodes are added after 4-D inputs, before 4-D outputs and around reshapes
// and fully-connected layers that read 4-D data in NHWC order, so the graph
// computes exactly what the file describes and the model's inputs and
// outputs keep their file layout. FLOAT16 and (U)INT8 constants (with their
// scale and zero point, per tensor or per axis) are converted to float32 at
// load; DEQUANTIZE of a constant is folded. Fused activations become
// Relu / Clip nodes that the compiler fuses back into their producer.
package tflitemodel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/faceverify/faceverify/inference/goengine/ir"
	fb "github.com/faceverify/faceverify/inference/goengine/tflitemodel/tflitefb"
)

// ErrFormat is wrapped by every error about a malformed or unsupported file.
var ErrFormat = errors.New("invalid TFLite model")

// maxElements bounds one tensor's element count.
const maxElements = 1 << 26

// nhwcToNCHW maps an NHWC axis to its NCHW position.
var nhwcToNCHW = [4]int{0, 2, 3, 1}

type reader struct {
	name  string
	data  []byte
	m     *fb.Model
	sg    fb.SubGraph
	g     *ir.Graph
	shape [][]int // file (NHWC) shape per tensor
	tmp   int
}

// Read parses data (a whole .tflite file) into a graph named name. Errors
// wrap ErrFormat, or are *ir.OpError for an operator the engine does not
// implement. A corrupt file gives an error, never a panic.
func Read(name string, data []byte) (g *ir.Graph, err error) {
	defer func() {
		if r := recover(); r != nil {
			g, err = nil, fmt.Errorf("%w %s: corrupt flatbuffer (%v)", ErrFormat, name, r)
		}
	}()
	if len(data) < 8 || string(data[4:8]) != "TFL3" {
		return nil, fmt.Errorf("%w %s: not a TFLite v3 flatbuffer (no TFL3 identifier)", ErrFormat, name)
	}
	r := &reader{name: name, data: data, m: fb.GetRootAsModel(data, 0)}
	if err := r.vec(r.m.SubgraphsLength(), 4); err != nil {
		return nil, err
	}
	if r.m.Version() != 3 || r.m.SubgraphsLength() < 1 {
		return nil, fmt.Errorf("%w %s: schema version %d with %d subgraphs, want version 3", ErrFormat, name, r.m.Version(), r.m.SubgraphsLength())
	}
	r.m.Subgraphs(&r.sg, 0)
	return r.read()
}

// vec rejects a vector length that the file cannot hold, before any loop
// or allocation uses it.
func (r *reader) vec(n, elem int) error {
	if n < 0 || n*elem > len(r.data) {
		return fmt.Errorf("%w %s: vector of %d elements exceeds the file", ErrFormat, r.name, n)
	}
	return nil
}

func (r *reader) errf(format string, args ...any) error {
	return fmt.Errorf("%w %s: %s", ErrFormat, r.name, fmt.Sprintf(format, args...))
}

func tname(i int) string { return fmt.Sprintf("t%d", i) }

func (r *reader) temp() string {
	r.tmp++
	return fmt.Sprintf("tmp%d", r.tmp)
}

func (r *reader) read() (*ir.Graph, error) {
	sg := &r.sg
	nt := sg.TensorsLength()
	for _, n := range []int{nt, sg.InputsLength(), sg.OutputsLength(), sg.OperatorsLength(), r.m.BuffersLength(), r.m.OperatorCodesLength()} {
		if err := r.vec(n, 4); err != nil {
			return nil, err
		}
	}
	r.g = &ir.Graph{Name: r.name, Consts: map[string]*ir.Tensor{}}
	r.shape = make([][]int, nt)
	var t fb.Tensor
	for i := 0; i < nt; i++ {
		sg.Tensors(&t, i)
		if err := r.vec(t.ShapeLength(), 4); err != nil {
			return nil, err
		}
		if t.ShapeLength() > 6 {
			return nil, r.errf("tensor %d has rank %d", i, t.ShapeLength())
		}
		s := make([]int, t.ShapeLength())
		n := 1
		for j := range s {
			d := int(t.Shape(j))
			if d < 0 || d > maxElements || (d > 0 && n > maxElements/d) {
				return nil, r.errf("tensor %d has an invalid or dynamic shape", i)
			}
			s[j] = d
			n *= d
		}
		r.shape[i] = s
		if c, err := r.constant(&t, s); err != nil {
			return nil, fmt.Errorf("%w %s: tensor %q: %w", ErrFormat, r.name, t.Name(), err)
		} else if c != nil {
			r.g.Consts[tname(i)] = c
		}
	}
	tensorIdx := func(v int32) (int, error) {
		if v < 0 || int(v) >= nt {
			return 0, r.errf("tensor index %d out of range", v)
		}
		return int(v), nil
	}
	for i := 0; i < sg.InputsLength(); i++ {
		ti, err := tensorIdx(sg.Inputs(i))
		if err != nil {
			return nil, err
		}
		sg.Tensors(&t, ti)
		if t.Type() != fb.TensorTypeFLOAT32 {
			return nil, r.errf("input %q is %s, want FLOAT32", t.Name(), t.Type())
		}
		name := "input:" + string(t.Name())
		r.g.Inputs = append(r.g.Inputs, ir.Value{Name: name, Shape: slices.Clone(r.shape[ti])})
		if len(r.shape[ti]) == 4 {
			r.add("Transpose", []string{name}, tname(ti), map[string]ir.Attr{"perm": {Is: []int64{0, 3, 1, 2}}})
		} else {
			r.add("Identity", []string{name}, tname(ti), nil)
		}
	}
	var op fb.Operator
	var oc fb.OperatorCode
	for i := 0; i < sg.OperatorsLength(); i++ {
		sg.Operators(&op, i)
		if int(op.OpcodeIndex()) >= r.m.OperatorCodesLength() {
			return nil, r.errf("operator %d: opcode index out of range", i)
		}
		r.m.OperatorCodes(&oc, int(op.OpcodeIndex()))
		code := oc.BuiltinCode()
		if dc := fb.BuiltinOperator(oc.DeprecatedBuiltinCode()); dc > code {
			code = dc
		}
		if err := r.vec(op.InputsLength(), 4); err != nil {
			return nil, err
		}
		if err := r.vec(op.OutputsLength(), 4); err != nil {
			return nil, err
		}
		var ins, outs []int
		for j := 0; j < op.InputsLength(); j++ {
			v := op.Inputs(j)
			if v == -1 {
				ins = append(ins, -1)
				continue
			}
			ti, err := tensorIdx(v)
			if err != nil {
				return nil, err
			}
			ins = append(ins, ti)
		}
		for j := 0; j < op.OutputsLength(); j++ {
			ti, err := tensorIdx(op.Outputs(j))
			if err != nil {
				return nil, err
			}
			outs = append(outs, ti)
		}
		if len(ins) == 0 || ins[0] < 0 || len(outs) == 0 {
			return nil, r.errf("operator %d (%s) without input or output", i, code)
		}
		if err := r.op(code, &op, ins, outs); err != nil {
			return nil, err
		}
	}
	for i := 0; i < sg.OutputsLength(); i++ {
		ti, err := tensorIdx(sg.Outputs(i))
		if err != nil {
			return nil, err
		}
		sg.Tensors(&t, ti)
		name := "output:" + string(t.Name())
		if len(r.shape[ti]) == 4 {
			r.add("Transpose", []string{tname(ti)}, name, map[string]ir.Attr{"perm": {Is: []int64{0, 2, 3, 1}}})
		} else {
			r.add("Identity", []string{tname(ti)}, name, nil)
		}
		r.g.Outputs = append(r.g.Outputs, name)
	}
	return r.g, nil
}

func (r *reader) add(op string, ins []string, out string, attrs map[string]ir.Attr) {
	if attrs == nil {
		attrs = map[string]ir.Attr{}
	}
	r.g.Nodes = append(r.g.Nodes, &ir.Node{Op: op, Name: out, Inputs: ins, Outputs: []string{out}, Attrs: attrs})
}

// constant returns the float32 (or int64, for INT32/INT64) contents of a
// tensor backed by a non-empty buffer, nil for an activation.
func (r *reader) constant(t *fb.Tensor, shape []int) (*ir.Tensor, error) {
	bi := int(t.Buffer())
	if bi == 0 || bi >= r.m.BuffersLength() {
		return nil, nil
	}
	var b fb.Buffer
	r.m.Buffers(&b, bi)
	raw := b.DataBytes()
	if off, size := b.Offset(), b.Size(); off > 1 && len(raw) == 0 {
		if off > uint64(len(r.data)) || size > uint64(len(r.data))-off {
			return nil, errors.New("buffer outside the file")
		}
		raw = r.data[off : off+size]
	}
	if len(raw) == 0 {
		return nil, nil
	}
	n := ir.NumElements(shape)
	width := map[fb.TensorType]int{fb.TensorTypeFLOAT32: 4, fb.TensorTypeFLOAT16: 2, fb.TensorTypeINT8: 1,
		fb.TensorTypeUINT8: 1, fb.TensorTypeINT32: 4, fb.TensorTypeINT64: 8}[t.Type()]
	if width == 0 {
		return nil, fmt.Errorf("type %s is not supported", t.Type())
	}
	if len(raw) != n*width {
		return nil, fmt.Errorf("buffer has %d bytes, shape %v of %s needs %d", len(raw), shape, t.Type(), n*width)
	}
	c := &ir.Tensor{Shape: slices.Clone(shape)}
	switch t.Type() {
	case fb.TensorTypeINT32, fb.TensorTypeINT64:
		c.DType = ir.Int64
		c.I = make([]int64, n)
		for i := range c.I {
			if width == 4 {
				c.I[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			} else {
				c.I[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		}
		return c, nil
	}
	c.F = make([]float32, n)
	switch t.Type() {
	case fb.TensorTypeFLOAT32:
		for i := range c.F {
			c.F[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case fb.TensorTypeFLOAT16:
		for i := range c.F {
			c.F[i] = ir.HalfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	case fb.TensorTypeINT8, fb.TensorTypeUINT8:
		var q fb.QuantizationParameters
		if t.Quantization(&q) == nil || q.ScaleLength() == 0 {
			return nil, errors.New("8-bit constant without quantization scale")
		}
		ns := q.ScaleLength()
		if ns != 1 && (q.QuantizedDimension() < 0 || int(q.QuantizedDimension()) >= len(shape) || shape[q.QuantizedDimension()] != ns) {
			return nil, errors.New("per-axis scales do not match the quantized dimension")
		}
		if q.ZeroPointLength() != 0 && q.ZeroPointLength() != ns {
			return nil, errors.New("zero points do not match scales")
		}
		inner := 1
		if ns > 1 {
			inner = ir.NumElements(shape[q.QuantizedDimension()+1:])
		}
		for i := range c.F {
			ch := (i / inner) % ns
			v := float32(raw[i])
			if t.Type() == fb.TensorTypeINT8 {
				v = float32(int8(raw[i]))
			}
			var zp float32
			if q.ZeroPointLength() > 0 {
				zp = float32(q.ZeroPoint(ch))
			}
			c.F[i] = (v - zp) * q.Scale(ch)
		}
	}
	return c, nil
}

// activation appends the node of a fused activation after out (which the
// caller's node wrote to a temporary) and returns the name the caller must
// write to.
func (r *reader) activation(f fb.ActivationFunctionType, out int) (string, error) {
	switch f {
	case fb.ActivationFunctionTypeNONE:
		return tname(out), nil
	case fb.ActivationFunctionTypeRELU:
		tmp := r.temp()
		r.add("Relu", []string{tmp}, tname(out), nil)
		return tmp, nil
	case fb.ActivationFunctionTypeRELU6, fb.ActivationFunctionTypeRELU_N1_TO_1:
		lo, hi := float32(0), float32(6)
		if f == fb.ActivationFunctionTypeRELU_N1_TO_1 {
			lo, hi = -1, 1
		}
		tmp := r.temp()
		r.add("Clip", []string{tmp}, tname(out), map[string]ir.Attr{"min": {F: lo}, "max": {F: hi}})
		return tmp, nil
	}
	return "", &ir.OpError{Model: r.name, Op: "fused " + f.String()}
}

// options reads the builtin options table of op into obj (any generated
// options type with Init).
func options[T any, P interface {
	*T
	Init([]byte, flatbuffers.UOffsetT)
}](op *fb.Operator) (P, bool) {
	var tbl flatbuffers.Table
	if !op.BuiltinOptions(&tbl) {
		return nil, false
	}
	p := P(new(T))
	p.Init(tbl.Bytes, tbl.Pos)
	return p, true
}

// layoutConst returns the name of a constant operand converted for an
// elementwise op whose other operand has the given file rank: a constant
// broadcast against a 4-D NHWC tensor is padded to rank 4 and transposed to
// NCHW.
func (r *reader) layoutConst(ti, otherRank int) (string, error) {
	c, ok := r.g.Consts[tname(ti)]
	if !ok || otherRank != 4 || len(c.Shape) == 0 || c.Len() == 1 {
		return tname(ti), nil
	}
	if len(c.Shape) > 4 || c.DType != ir.Float32 {
		return "", r.errf("constant operand %v against a 4-D tensor", c.Shape)
	}
	s := slices.Clone(c.Shape)
	for len(s) < 4 {
		s = append([]int{1}, s...)
	}
	name := r.temp()
	r.g.Consts[name] = &ir.Tensor{Shape: []int{s[0], s[3], s[1], s[2]}, F: transposeNHWC(c.F, s)}
	return name, nil
}

// transposeNHWC copies NHWC data of shape s into NCHW order.
func transposeNHWC(src []float32, s []int) []float32 {
	n, h, w, ch := s[0], s[1], s[2], s[3]
	dst := make([]float32, len(src))
	for b := 0; b < n; b++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				for c := 0; c < ch; c++ {
					dst[((b*ch+c)*h+y)*w+x] = src[((b*h+y)*w+x)*ch+c]
				}
			}
		}
	}
	return dst
}

func padAttr(p fb.Padding) (string, error) {
	switch p {
	case fb.PaddingSAME:
		return "SAME_UPPER", nil // TFLite SAME puts the odd pixel after, as ONNX SAME_UPPER
	case fb.PaddingVALID:
		return "VALID", nil
	}
	return "", fmt.Errorf("padding %d", p)
}

func (r *reader) op(code fb.BuiltinOperator, op *fb.Operator, ins, outs []int) error {
	x := ins[0]
	out := outs[0]
	xs := r.shape[x]
	opErr := func(detail string) error { return &ir.OpError{Model: r.name, Op: code.String(), Detail: detail} }
	constF := func(ti int) (*ir.Tensor, error) {
		if ti < 0 {
			return nil, opErr("missing constant input")
		}
		c, ok := r.g.Consts[tname(ti)]
		if !ok || c.DType != ir.Float32 {
			return nil, opErr("weights must be float constants")
		}
		return c, nil
	}
	switch code {
	case fb.BuiltinOperatorDEQUANTIZE:
		c, ok := r.g.Consts[tname(x)]
		if !ok || c.DType != ir.Float32 {
			return opErr("only constant inputs are supported")
		}
		r.g.Consts[tname(out)] = c // converted to float32 when read
		return nil
	case fb.BuiltinOperatorCONV_2D, fb.BuiltinOperatorDEPTHWISE_CONV_2D:
		if len(ins) < 2 || len(xs) != 4 {
			return opErr("needs a 4-D input and weights")
		}
		w, err := constF(ins[1])
		if err != nil {
			return err
		}
		if len(w.Shape) != 4 {
			return opErr("weights must be 4-D")
		}
		var pad fb.Padding
		var sh, sw, dh, dw int32
		var act fb.ActivationFunctionType
		group := 1
		// [O,KH,KW,I] (conv) or [1,KH,KW,O] (depthwise) → [O,I,KH,KW]
		o, kh, kw, i := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
		var wt []float32
		if code == fb.BuiltinOperatorCONV_2D {
			opt, ok := options[fb.Conv2DOptions](op)
			if !ok {
				return opErr("missing options")
			}
			pad, sh, sw, dh, dw, act = opt.Padding(), opt.StrideH(), opt.StrideW(), opt.DilationHFactor(), opt.DilationWFactor(), opt.FusedActivationFunction()
			if i != xs[3] {
				return opErr(fmt.Sprintf("weights %v do not fit input %v", w.Shape, xs))
			}
			wt = make([]float32, len(w.F))
			for a := 0; a < o; a++ {
				for y := 0; y < kh; y++ {
					for z := 0; z < kw; z++ {
						for c := 0; c < i; c++ {
							wt[((a*i+c)*kh+y)*kw+z] = w.F[((a*kh+y)*kw+z)*i+c]
						}
					}
				}
			}
		} else {
			opt, ok := options[fb.DepthwiseConv2DOptions](op)
			if !ok {
				return opErr("missing options")
			}
			pad, sh, sw, dh, dw, act = opt.Padding(), opt.StrideH(), opt.StrideW(), opt.DilationHFactor(), opt.DilationWFactor(), opt.FusedActivationFunction()
			if o != 1 || xs[3] == 0 || i%xs[3] != 0 {
				return opErr(fmt.Sprintf("depthwise weights %v do not fit input %v", w.Shape, xs))
			}
			o, i, group = i, 1, xs[3]
			wt = make([]float32, len(w.F))
			for y := 0; y < kh; y++ {
				for z := 0; z < kw; z++ {
					for c := 0; c < o; c++ {
						wt[(c*kh+y)*kw+z] = w.F[(y*kw+z)*o+c]
					}
				}
			}
		}
		ap, err := padAttr(pad)
		if err != nil {
			return opErr(err.Error())
		}
		wname := r.temp()
		r.g.Consts[wname] = &ir.Tensor{Shape: []int{o, i, kh, kw}, F: wt}
		inputs := []string{tname(x), wname}
		if len(ins) > 2 && ins[2] >= 0 {
			if _, err := constF(ins[2]); err != nil {
				return err
			}
			inputs = append(inputs, tname(ins[2]))
		}
		dst, err := r.activation(act, out)
		if err != nil {
			return err
		}
		r.add("Conv", inputs, dst, map[string]ir.Attr{"strides": {Is: []int64{int64(sh), int64(sw)}},
			"dilations": {Is: []int64{int64(max(dh, 1)), int64(max(dw, 1))}}, "group": {I: int64(group)}, "auto_pad": {S: ap}})
		return nil
	case fb.BuiltinOperatorADD, fb.BuiltinOperatorSUB, fb.BuiltinOperatorMUL, fb.BuiltinOperatorDIV:
		if len(ins) != 2 || ins[1] < 0 {
			return opErr("needs two inputs")
		}
		var act fb.ActivationFunctionType
		switch code {
		case fb.BuiltinOperatorADD:
			if o, ok := options[fb.AddOptions](op); ok {
				act = o.FusedActivationFunction()
			}
		case fb.BuiltinOperatorSUB:
			if o, ok := options[fb.SubOptions](op); ok {
				act = o.FusedActivationFunction()
			}
		case fb.BuiltinOperatorMUL:
			if o, ok := options[fb.MulOptions](op); ok {
				act = o.FusedActivationFunction()
			}
		case fb.BuiltinOperatorDIV:
			if o, ok := options[fb.DivOptions](op); ok {
				act = o.FusedActivationFunction()
			}
		}
		a, b := ins[0], ins[1]
		ra, rb := len(r.shape[a]), len(r.shape[b])
		_, ca := r.g.Consts[tname(a)]
		_, cb := r.g.Consts[tname(b)]
		if (ra == 4) != (rb == 4) && !ca && !cb {
			return opErr("mixing 4-D and other ranks at run time")
		}
		an, err := r.layoutConst(a, rb)
		if err != nil {
			return err
		}
		bn, err := r.layoutConst(b, ra)
		if err != nil {
			return err
		}
		dst, err := r.activation(act, out)
		if err != nil {
			return err
		}
		opName := map[fb.BuiltinOperator]string{fb.BuiltinOperatorADD: "Add", fb.BuiltinOperatorSUB: "Sub", fb.BuiltinOperatorMUL: "Mul", fb.BuiltinOperatorDIV: "Div"}[code]
		r.add(opName, []string{an, bn}, dst, nil)
		return nil
	case fb.BuiltinOperatorRELU:
		r.add("Relu", []string{tname(x)}, tname(out), nil)
		return nil
	case fb.BuiltinOperatorRELU6:
		r.add("Clip", []string{tname(x)}, tname(out), map[string]ir.Attr{"min": {F: 0}, "max": {F: 6}})
		return nil
	case fb.BuiltinOperatorABS:
		r.add("Abs", []string{tname(x)}, tname(out), nil)
		return nil
	case fb.BuiltinOperatorLOGISTIC:
		r.add("Sigmoid", []string{tname(x)}, tname(out), nil)
		return nil
	case fb.BuiltinOperatorLEAKY_RELU:
		alpha := float32(0.2)
		if o, ok := options[fb.LeakyReluOptions](op); ok {
			alpha = o.Alpha()
		}
		r.add("LeakyRelu", []string{tname(x)}, tname(out), map[string]ir.Attr{"alpha": {F: alpha}})
		return nil
	case fb.BuiltinOperatorMAX_POOL_2D, fb.BuiltinOperatorAVERAGE_POOL_2D:
		opt, ok := options[fb.Pool2DOptions](op)
		if !ok || len(xs) != 4 {
			return opErr("needs a 4-D input and options")
		}
		ap, err := padAttr(opt.Padding())
		if err != nil {
			return opErr(err.Error())
		}
		dst, err := r.activation(opt.FusedActivationFunction(), out)
		if err != nil {
			return err
		}
		name := "MaxPool"
		if code == fb.BuiltinOperatorAVERAGE_POOL_2D {
			name = "AveragePool"
		}
		r.add(name, []string{tname(x)}, dst, map[string]ir.Attr{"kernel_shape": {Is: []int64{int64(opt.FilterHeight()), int64(opt.FilterWidth())}},
			"strides": {Is: []int64{int64(opt.StrideH()), int64(opt.StrideW())}}, "auto_pad": {S: ap}})
		return nil
	case fb.BuiltinOperatorPAD, fb.BuiltinOperatorPADV2:
		if len(ins) < 2 || ins[1] < 0 {
			return opErr("needs paddings")
		}
		p, ok := r.g.Consts[tname(ins[1])]
		rank := len(xs)
		if !ok || p.DType != ir.Int64 || p.Len() != 2*rank {
			return opErr("paddings must be an integer constant [rank, 2]")
		}
		pads := make([]int64, 2*rank)
		for d := 0; d < rank; d++ {
			nd := d
			if rank == 4 {
				nd = nhwcToNCHW[d]
			}
			pads[nd], pads[nd+rank] = p.I[2*d], p.I[2*d+1]
		}
		attrs := map[string]ir.Attr{"pads": {Is: pads}}
		if len(ins) > 2 && ins[2] >= 0 {
			v, err := constF(ins[2])
			if err != nil || v.Len() != 1 {
				return opErr("pad value must be a scalar constant")
			}
			attrs["value"] = ir.Attr{F: v.F[0]}
		}
		r.add("Pad", []string{tname(x)}, tname(out), attrs)
		return nil
	case fb.BuiltinOperatorRESHAPE:
		src := tname(x)
		if len(xs) == 4 {
			src = r.temp()
			r.add("Transpose", []string{tname(x)}, src, map[string]ir.Attr{"perm": {Is: []int64{0, 2, 3, 1}}})
		}
		os := r.shape[out]
		spec := make([]int64, len(os))
		for i, d := range os {
			spec[i] = int64(d)
		}
		sname := r.temp()
		r.g.Consts[sname] = &ir.Tensor{DType: ir.Int64, Shape: []int{len(spec)}, I: spec}
		if len(os) == 4 {
			mid := r.temp()
			r.add("Reshape", []string{src, sname}, mid, nil)
			r.add("Transpose", []string{mid}, tname(out), map[string]ir.Attr{"perm": {Is: []int64{0, 3, 1, 2}}})
		} else {
			r.add("Reshape", []string{src, sname}, tname(out), nil)
		}
		return nil
	case fb.BuiltinOperatorCONCATENATION:
		opt, ok := options[fb.ConcatenationOptions](op)
		if !ok {
			return opErr("missing options")
		}
		ax := int(opt.Axis())
		if ax < 0 {
			ax += len(xs)
		}
		if ax < 0 || ax >= len(xs) {
			return opErr("axis out of range")
		}
		if len(xs) == 4 {
			ax = nhwcToNCHW[ax]
		}
		var names []string
		for _, ti := range ins {
			if ti < 0 {
				return opErr("missing input")
			}
			names = append(names, tname(ti))
		}
		dst, err := r.activation(opt.FusedActivationFunction(), out)
		if err != nil {
			return err
		}
		r.add("Concat", names, dst, map[string]ir.Attr{"axis": {I: int64(ax)}})
		return nil
	case fb.BuiltinOperatorFULLY_CONNECTED:
		if len(ins) < 2 {
			return opErr("needs weights")
		}
		w, err := constF(ins[1])
		if err != nil {
			return err
		}
		if len(w.Shape) != 2 || w.Shape[1] == 0 {
			return opErr("weights must be 2-D")
		}
		var act fb.ActivationFunctionType
		if o, ok := options[fb.FullyConnectedOptions](op); ok {
			act = o.FusedActivationFunction()
			if o.WeightsFormat() != fb.FullyConnectedOptionsWeightsFormatDEFAULT {
				return opErr("shuffled weights are not supported")
			}
		}
		src := tname(x)
		if len(xs) == 4 {
			src = r.temp()
			r.add("Transpose", []string{tname(x)}, src, map[string]ir.Attr{"perm": {Is: []int64{0, 2, 3, 1}}})
		}
		if len(xs) != 2 {
			flat := r.temp()
			sname := r.temp()
			r.g.Consts[sname] = &ir.Tensor{DType: ir.Int64, Shape: []int{2}, I: []int64{-1, int64(w.Shape[1])}}
			r.add("Reshape", []string{src, sname}, flat, nil)
			src = flat
		}
		inputs := []string{src, tname(ins[1])}
		if len(ins) > 2 && ins[2] >= 0 {
			if _, err := constF(ins[2]); err != nil {
				return err
			}
			inputs = append(inputs, tname(ins[2]))
		}
		dst := tname(out)
		if len(r.shape[out]) != 2 {
			dst = r.temp()
		}
		fin, err := r.activation(act, out)
		if err != nil {
			return err
		}
		if fin != tname(out) && dst != tname(out) {
			return opErr("fused activation with a reshaped output")
		}
		if fin != tname(out) {
			dst = fin
		}
		r.add("Gemm", inputs, dst, map[string]ir.Attr{"transB": {I: 1}})
		if dst != tname(out) && dst != fin {
			os := r.shape[out]
			spec := make([]int64, len(os))
			for i, d := range os {
				spec[i] = int64(d)
			}
			sname := r.temp()
			r.g.Consts[sname] = &ir.Tensor{DType: ir.Int64, Shape: []int{len(spec)}, I: spec}
			r.add("Reshape", []string{dst, sname}, tname(out), nil)
		}
		return nil
	}
	return &ir.OpError{Model: r.name, Op: code.String()}
}
