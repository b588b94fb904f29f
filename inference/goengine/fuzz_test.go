package goengine

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/faceverify/faceverify/inference/goengine/ir"
	"github.com/faceverify/faceverify/inference/goengine/onnxmodel"
	"github.com/faceverify/faceverify/inference/goengine/onnxmodel/onnxpb"
	"github.com/faceverify/faceverify/inference/goengine/tflitemodel"
)

// tinyONNX is a 1×2×4×4 → Conv 3×3 (2→3, pad 1) → Relu → GlobalAveragePool
// → Flatten → Gemm model, the fuzz seed for the ONNX reader.
func tinyONNX(tb testing.TB) []byte {
	tb.Helper()
	f := func(name string, dims []int64, n int) *onnxpb.TensorProto {
		t := &onnxpb.TensorProto{Name: name, Dims: dims, DataType: 1}
		for i := 0; i < n; i++ {
			t.FloatData = append(t.FloatData, float32(i%7)/7-0.4)
		}
		return t
	}
	vi := func(name string, dims ...int64) *onnxpb.ValueInfoProto {
		var d []*onnxpb.TensorShapeProto_Dimension
		for _, x := range dims {
			d = append(d, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: x}})
		}
		return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: 1, Shape: &onnxpb.TensorShapeProto{Dim: d}}}}}
	}
	ints := func(name string, v ...int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: name, Ints: v, Type: onnxpb.AttributeProto_INTS}
	}
	m := &onnxpb.ModelProto{IrVersion: 4, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: 9}}, Graph: &onnxpb.GraphProto{
		Name:        "tiny",
		Input:       []*onnxpb.ValueInfoProto{vi("x", 1, 2, 4, 4)},
		Output:      []*onnxpb.ValueInfoProto{vi("y", 1, 5)},
		Initializer: []*onnxpb.TensorProto{f("w", []int64{3, 2, 3, 3}, 54), f("b", []int64{3}, 3), f("fc", []int64{5, 3}, 15)},
		Node: []*onnxpb.NodeProto{
			{OpType: "Conv", Input: []string{"x", "w", "b"}, Output: []string{"c"}, Attribute: []*onnxpb.AttributeProto{ints("pads", 1, 1, 1, 1), ints("kernel_shape", 3, 3)}},
			{OpType: "Relu", Input: []string{"c"}, Output: []string{"r"}},
			{OpType: "GlobalAveragePool", Input: []string{"r"}, Output: []string{"g"}},
			{OpType: "Flatten", Input: []string{"g"}, Output: []string{"f"}},
			{OpType: "Gemm", Input: []string{"f", "fc"}, Output: []string{"y"}, Attribute: []*onnxpb.AttributeProto{{Name: "transB", I: 1, Type: onnxpb.AttributeProto_INT}}},
		},
	}}
	b, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fuzzLoad loads data as a model of the given extension: an error is fine,
// a panic, a hang or an allocation beyond the limit is not; a model that
// loads must also run.
func fuzzLoad(t *testing.T, name string, data []byte) {
	saved := MaxArena
	MaxArena = 1 << 22 // 16 MiB for fuzzing
	defer func() { MaxArena = saved }()
	// the readers and Compile directly: LoadBytes's recover would hide a
	// panic from the fuzzer
	var g *ir.Graph
	var err error
	if filepath.Ext(name) == ".onnx" {
		g, err = onnxmodel.Read(name, data)
	} else {
		g, err = tflitemodel.Read(name, data)
	}
	if err != nil {
		return
	}
	m, err := Compile(g)
	if err != nil {
		return
	}
	ins := make([][]float32, m.NumInputs())
	for i := range ins {
		ins[i] = make([]float32, len(m.inputs[i].buf))
	}
	outs := make([][]float32, m.NumOutputs())
	for i := range outs {
		outs[i] = make([]float32, len(m.outputs[i].buf))
	}
	if err := m.Run(ins, outs); err != nil {
		t.Fatal(err)
	}
}

func FuzzONNX(f *testing.F) {
	f.Add(tinyONNX(f))
	f.Add([]byte{})
	f.Add([]byte("\x08\x04\x3a\x00"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, "fuzz.onnx", data) })
}

func FuzzTFLite(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "..", "models", "tflite", "face_detection_short_range.tflite")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("\x00\x00\x00\x00TFL3"))
	f.Add([]byte("\x1c\x00\x00\x00TFL3\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, "fuzz.tflite", data) })
}

// TestTinyONNX: the fuzz seed model loads and computes the expected values.
func TestTinyONNX(t *testing.T) {
	m, err := LoadBytes("tiny.onnx", tinyONNX(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Ops(); len(got) != 5 {
		t.Fatalf("ops %v", got)
	}
	out := make([]float32, 5)
	if err := m.Run([][]float32{make([]float32, 32)}, [][]float32{out}); err != nil {
		t.Fatal(err)
	}
	// zero input: conv = bias, relu, pool = relu(bias), gemm = fc · that
	bias := []float32{-0.4, 1.0/7 - 0.4, 2.0/7 - 0.4}
	for j := 0; j < 5; j++ {
		var want float32
		for c := 0; c < 3; c++ {
			w := float32((j*3+c)%7)/7 - 0.4
			want += w * max(bias[c], 0)
		}
		if d := out[j] - want; d > 1e-6 || d < -1e-6 {
			t.Errorf("out[%d] = %v, want %v", j, out[j], want)
		}
	}
}
