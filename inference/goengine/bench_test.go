//go:build cgo

package goengine_test

import (
	"slices"
	"testing"
	"time"

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
		// paired: each iteration runs both engines back to back, so a
		// shared machine's load hits both alike; medians and their ratio
		b.Run(tc.file+"/paired", func(b *testing.B) {
			var g, r []float64
			for b.Loop() {
				t0 := time.Now()
				if err := m.Run([][]float32{in}, outs); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				o.run(b, in)
				t2 := time.Now()
				g = append(g, float64(t1.Sub(t0).Microseconds())/1000)
				r = append(r, float64(t2.Sub(t1).Microseconds())/1000)
			}
			slices.Sort(g)
			slices.Sort(r)
			b.ReportMetric(g[len(g)/2], "go-ms")
			b.ReportMetric(r[len(r)/2], "ort-ms")
			b.ReportMetric(g[len(g)/2]/r[len(r)/2], "go/ort")
			b.ReportMetric(float64(m.FLOPs())/1e6, "MFLOP")
		})
	}
}
