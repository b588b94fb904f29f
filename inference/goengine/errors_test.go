package goengine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/faceverify/faceverify/inference/goengine/ir"
	"github.com/faceverify/faceverify/inference/goengine/onnxmodel"
	"github.com/faceverify/faceverify/inference/goengine/onnxmodel/onnxpb"
	"github.com/faceverify/faceverify/inference/goengine/tflitemodel"
)

// mutateONNX returns the tiny model with f applied.
func mutateONNX(t *testing.T, f func(m *onnxpb.ModelProto)) []byte {
	t.Helper()
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(tinyONNX(t), &m); err != nil {
		t.Fatal(err)
	}
	f(&m)
	b, err := proto.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLoadErrors: unsupported operators are load-time *ir.OpError values
// naming the operator and the model; malformed files wrap the readers'
// ErrFormat; nothing panics.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string
		data   []byte
		op     string // want an *ir.OpError for this operator
		format error  // or an error wrapping this
		text   string
	}{
		{name: "unknown ONNX operator", file: "tiny.onnx", op: "LSTM", data: mutateONNX(t, func(m *onnxpb.ModelProto) {
			m.Graph.Node[1].OpType = "LSTM"
		})},
		{name: "foreign ONNX domain", file: "tiny.onnx", op: "com.microsoft.FusedConv", data: mutateONNX(t, func(m *onnxpb.ModelProto) {
			m.Graph.Node[0].Domain, m.Graph.Node[0].OpType = "com.microsoft", "FusedConv"
		})},
		{name: "raw data shorter than shape", file: "tiny.onnx", format: onnxmodel.ErrFormat, text: "raw data", data: mutateONNX(t, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer[0].FloatData, m.Graph.Initializer[0].RawData = nil, make([]byte, 10)
		})},
		{name: "external data", file: "tiny.onnx", format: onnxmodel.ErrFormat, text: "external", data: mutateONNX(t, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer[0].DataLocation = onnxpb.TensorProto_EXTERNAL
		})},
		{name: "dynamic input", file: "tiny.onnx", format: onnxmodel.ErrFormat, text: "dynamic", data: mutateONNX(t, func(m *onnxpb.ModelProto) {
			m.Graph.Input[0].Type.GetTensorType().Shape.Dim[0].Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
		})},
		{name: "not protobuf", file: "x.onnx", format: onnxmodel.ErrFormat, data: []byte{0xff, 0xff, 0xff}},
		{name: "not a flatbuffer", file: "x.tflite", format: tflitemodel.ErrFormat, text: "TFL3", data: []byte("hello world, not a model")},
		{name: "unknown extension", file: "x.pb", data: []byte{1}, text: "unknown format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBytes(tc.file, tc.data)
			if err == nil {
				t.Fatal("loaded")
			}
			var oe *ir.OpError
			switch {
			case tc.op != "":
				if !errors.As(err, &oe) || oe.Op != tc.op || oe.Model != tc.file {
					t.Fatalf("err %v, want an *ir.OpError for %s in %s", err, tc.op, tc.file)
				}
				if !strings.Contains(err.Error(), tc.op) || !strings.Contains(err.Error(), tc.file) {
					t.Errorf("message %q does not name the operator and the model", err)
				}
			case tc.format != nil && !errors.Is(err, tc.format):
				t.Fatalf("err %v, want one wrapping %v", err, tc.format)
			}
			if tc.text != "" && !strings.Contains(err.Error(), tc.text) {
				t.Errorf("message %q does not mention %q", err, tc.text)
			}
		})
	}
}

// TestFaceAntiSpoofingRejected: the fetched but unsupported TFLite liveness
// model fails at load naming an operator it needs.
func TestFaceAntiSpoofingRejected(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "models", "tflite", "FaceAntiSpoofing.tflite"))
	if err != nil {
		t.Skip("models not fetched")
	}
	_, err = LoadBytes("FaceAntiSpoofing.tflite", b)
	var oe *ir.OpError
	if !errors.As(err, &oe) || oe.Model != "FaceAntiSpoofing.tflite" {
		t.Fatalf("err %v, want an *ir.OpError", err)
	}
	t.Logf("%v", err)
}
