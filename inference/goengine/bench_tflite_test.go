package goengine_test

import (
	"testing"

	"github.com/faceverify/faceverify/inference/goengine"
)

// BenchmarkTFLite runs the two TFLite models once per iteration (no ONNX
// Runtime counterpart: it does not read TFLite).
func BenchmarkTFLite(b *testing.B) {
	for _, file := range []string{"tflite/face_detection_short_range.tflite", "tflite/MobileFaceNet.tflite"} {
		m, err := goengine.Load(modelPath(b, file))
		if err != nil {
			b.Fatal(err)
		}
		ins := make([][]float32, m.NumInputs())
		for i := range ins {
			n := 1
			for _, d := range m.InputShape(i) {
				n *= d
			}
			ins[i] = make([]float32, n)
			for j := range ins[i] {
				ins[i][j] = float32(j%255)/127.5 - 1
			}
		}
		outs := make([][]float32, m.NumOutputs())
		for i := range outs {
			n := 1
			for _, d := range m.OutputShape(i) {
				n *= d
			}
			outs[i] = make([]float32, n)
		}
		b.Run(file[len("tflite/"):]+"/go", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := m.Run(ins, outs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(m.FLOPs())/1e6, "MFLOP")
		})
	}
}
