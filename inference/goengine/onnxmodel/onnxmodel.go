// Package onnxmodel reads ONNX model files (protobuf ModelProto, types in
// onnxpb generated from the official onnx.proto3) into the engine's graph
// (inference/goengine/ir). Initializers and Constant nodes become constants:
// FLOAT is kept, FLOAT16 and (U)INT8 are converted to float32 at load, INT32
// and INT64 become int64 constants. External data and dynamic input
// dimensions are load-time errors.
package onnxmodel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/faceverify/faceverify/inference/goengine/ir"
	"github.com/faceverify/faceverify/inference/goengine/onnxmodel/onnxpb"
)

// ErrFormat is wrapped by every error about a malformed or unsupported file.
var ErrFormat = errors.New("invalid ONNX model")

// maxElements bounds one tensor's element count (the largest pinned weight
// has 2.6 M); a declared shape above it is rejected before any allocation.
const maxElements = 1 << 28

// ONNX TensorProto.DataType values (onnx.proto3, enum DataType).
const (
	dtFloat   = 1
	dtUint8   = 2
	dtInt8    = 3
	dtInt32   = 6
	dtInt64   = 7
	dtFloat16 = 10
)

// Read parses data (a whole .onnx file) into a graph named name. Errors wrap
// ErrFormat; they name the model and, for tensors, the tensor.
func Read(name string, data []byte) (*ir.Graph, error) {
	var m onnxpb.ModelProto
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrFormat, name, err)
	}
	gp := m.GetGraph()
	if gp == nil {
		return nil, fmt.Errorf("%w %s: no graph", ErrFormat, name)
	}
	g := &ir.Graph{Name: name, Consts: map[string]*ir.Tensor{}}
	for _, t := range gp.GetInitializer() {
		c, err := tensor(t)
		if err != nil {
			return nil, fmt.Errorf("%w %s: initializer %q: %w", ErrFormat, name, t.GetName(), err)
		}
		g.Consts[t.GetName()] = c
	}
	for _, in := range gp.GetInput() {
		if _, ok := g.Consts[in.GetName()]; ok {
			continue // opset < 9 files list initializers among the inputs
		}
		tt := in.GetType().GetTensorType()
		if tt == nil || tt.GetElemType() != dtFloat {
			return nil, fmt.Errorf("%w %s: input %q is not a float tensor", ErrFormat, name, in.GetName())
		}
		var shape []int
		for _, d := range tt.GetShape().GetDim() {
			v := d.GetDimValue()
			if v <= 0 || v > maxElements {
				return nil, fmt.Errorf("%w %s: input %q has a dynamic or invalid dimension", ErrFormat, name, in.GetName())
			}
			shape = append(shape, int(v))
		}
		if !sizeOK(shape) {
			return nil, fmt.Errorf("%w %s: input %q is too large", ErrFormat, name, in.GetName())
		}
		g.Inputs = append(g.Inputs, ir.Value{Name: in.GetName(), Shape: shape})
	}
	for _, out := range gp.GetOutput() {
		g.Outputs = append(g.Outputs, out.GetName())
	}
	if len(g.Inputs) == 0 || len(g.Outputs) == 0 {
		return nil, fmt.Errorf("%w %s: graph without inputs or outputs", ErrFormat, name)
	}
	for i, n := range gp.GetNode() {
		if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
			return nil, &ir.OpError{Model: name, Op: n.GetDomain() + "." + n.GetOpType(), Detail: "operator domain not supported"}
		}
		if n.GetOpType() == "Constant" {
			if len(n.GetOutput()) != 1 {
				return nil, fmt.Errorf("%w %s: node %d: Constant needs one output", ErrFormat, name, i)
			}
			var val *onnxpb.TensorProto
			for _, a := range n.GetAttribute() {
				if a.GetName() == "value" {
					val = a.GetT()
				}
			}
			if val == nil {
				return nil, fmt.Errorf("%w %s: node %d: Constant without a tensor value", ErrFormat, name, i)
			}
			c, err := tensor(val)
			if err != nil {
				return nil, fmt.Errorf("%w %s: Constant %q: %w", ErrFormat, name, n.GetOutput()[0], err)
			}
			g.Consts[n.GetOutput()[0]] = c
			continue
		}
		node := &ir.Node{Op: n.GetOpType(), Name: n.GetName(), Inputs: n.GetInput(), Outputs: n.GetOutput(), Attrs: map[string]ir.Attr{}}
		for _, a := range n.GetAttribute() {
			node.Attrs[a.GetName()] = ir.Attr{I: a.GetI(), F: a.GetF(), S: string(a.GetS()), Is: a.GetInts(), Fs: a.GetFloats()}
		}
		g.Nodes = append(g.Nodes, node)
	}
	return g, nil
}

func sizeOK(shape []int) bool {
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > maxElements/d) {
			return false
		}
		n *= d
	}
	return n <= maxElements
}

// tensor converts one TensorProto; the declared element count is checked
// against the bytes present before anything is allocated.
func tensor(t *onnxpb.TensorProto) (*ir.Tensor, error) {
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(t.GetExternalData()) > 0 {
		return nil, errors.New("external data is not supported")
	}
	shape := make([]int, len(t.GetDims()))
	for i, d := range t.GetDims() {
		if d < 0 || d > maxElements {
			return nil, fmt.Errorf("invalid dimension %d", d)
		}
		shape[i] = int(d)
	}
	if !sizeOK(shape) {
		return nil, errors.New("tensor too large")
	}
	n := ir.NumElements(shape)
	raw := t.GetRawData()
	width := map[int32]int{dtFloat: 4, dtUint8: 1, dtInt8: 1, dtInt32: 4, dtInt64: 8, dtFloat16: 2}[t.GetDataType()]
	if width == 0 {
		return nil, fmt.Errorf("data type %d is not supported", t.GetDataType())
	}
	if len(raw) > 0 && len(raw) != n*width {
		return nil, fmt.Errorf("raw data has %d bytes, shape %v needs %d", len(raw), shape, n*width)
	}
	out := &ir.Tensor{Shape: shape}
	switch t.GetDataType() {
	case dtFloat:
		if len(raw) == 0 && len(t.GetFloatData()) != n {
			return nil, fmt.Errorf("has %d floats, shape %v needs %d", len(t.GetFloatData()), shape, n)
		}
		out.F = make([]float32, n)
		if len(raw) > 0 {
			for i := range out.F {
				out.F[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		} else {
			copy(out.F, t.GetFloatData())
		}
	case dtFloat16:
		if len(raw) == 0 && len(t.GetInt32Data()) != n {
			return nil, fmt.Errorf("has %d halves, shape %v needs %d", len(t.GetInt32Data()), shape, n)
		}
		out.F = make([]float32, n)
		for i := range out.F {
			var h uint16
			if len(raw) > 0 {
				h = binary.LittleEndian.Uint16(raw[2*i:])
			} else {
				h = uint16(t.GetInt32Data()[i])
			}
			out.F[i] = ir.HalfToFloat(h)
		}
	case dtUint8, dtInt8:
		if len(raw) == 0 && len(t.GetInt32Data()) != n {
			return nil, fmt.Errorf("has %d values, shape %v needs %d", len(t.GetInt32Data()), shape, n)
		}
		out.F = make([]float32, n)
		for i := range out.F {
			var v int32
			switch {
			case len(raw) == 0:
				v = t.GetInt32Data()[i]
			case t.GetDataType() == dtInt8:
				v = int32(int8(raw[i]))
			default:
				v = int32(raw[i])
			}
			out.F[i] = float32(v)
		}
	case dtInt32, dtInt64:
		out.DType = ir.Int64
		if len(raw) == 0 {
			if t.GetDataType() == dtInt64 && len(t.GetInt64Data()) != n || t.GetDataType() == dtInt32 && len(t.GetInt32Data()) != n {
				return nil, fmt.Errorf("has the wrong number of values for shape %v", shape)
			}
		}
		out.I = make([]int64, n)
		for i := range out.I {
			switch {
			case len(raw) > 0 && width == 8:
				out.I[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			case len(raw) > 0:
				out.I[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			case t.GetDataType() == dtInt64:
				out.I[i] = t.GetInt64Data()[i]
			default:
				out.I[i] = int64(t.GetInt32Data()[i])
			}
		}
	}
	return out, nil
}
