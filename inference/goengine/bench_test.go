//go:build cgo

package goengine_test

import (
	"testing"

	"github.com/faceverify/faceverify/inference/goengine"
)

// BenchmarkModels runs each pinned ONNX model once per iteration with the Go
// engine and with ONNX Runtime (same input, same process), for the
// Go-vs-ORT table: compare the two in one run, the machine is shared.
func BenchmarkModels(b *testing.B) {
	names, photos := testPhotos(b)
	for _, tc := range onnxCases {
		path := modelPath(b, tc.file)
		m, err := goengine.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		in := wholeFrame(b, photos[names[0]], tc.layout)
		outs := make([][]float32, m.NumOutputs())
		for i := range outs {
			n := 1
			for _, d := range m.OutputShape(i) {
				n *= d
			}
			outs[i] = make([]float32, n)
		}
		b.Run(tc.file+"/go", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := m.Run([][]float32{in}, outs); err != nil {
					b.Fatal(err)
				}
			}
		})
		o := newORT(b, path, m, "input", tc.outputs)
		b.Run(tc.file+"/ort", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				o.run(b, in)
			}
		})
	}
}
