package onnx

import (
	"context"
	"fmt"
	"testing"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/cputime"
)

// BenchmarkLivenessCrops is the cost of one face's liveness per analysed
// frame with 1, 3 and 5 fused crops (inference.liveness_crops), as wall
// time (ns/op) and process CPU time (cpu-ms/op).
func BenchmarkLivenessCrops(b *testing.B) {
	e, img, d, _ := benchInput(b)
	saved := e.Liveness.crops
	defer func() { e.Liveness.crops = saved }()
	for _, n := range []int{1, 3, 5} {
		b.Run(fmt.Sprintf("crops=%d", n), func(b *testing.B) {
			e.Liveness.crops = livenessCrops(n)
			b.ReportAllocs()
			c0 := cputime.Process()
			for b.Loop() {
				if _, err := e.Liveness.Score(img, d.Box); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cputime.Process()-c0)/1e6/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkAnalyzeLivenessCrops is the cost of a whole analysed frame
// (detection, confirmation, landmarks, quality, liveness: what the kiosk
// runs per frame) with 1, 3 and 5 fused liveness crops.
func BenchmarkAnalyzeLivenessCrops(b *testing.B) {
	e, img, _, _ := benchInput(b)
	saved := e.Liveness.crops
	defer func() { e.Liveness.crops = saved }()
	ctx := context.Background()
	for _, n := range []int{1, 3, 5} {
		b.Run(fmt.Sprintf("crops=%d", n), func(b *testing.B) {
			e.Liveness.crops = livenessCrops(n)
			c0 := cputime.Process()
			for b.Loop() {
				if _, err := e.Analyze(ctx, img, inference.Options{Liveness: true}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cputime.Process()-c0)/1e6/float64(b.N), "cpu-ms/op")
		})
	}
}

func TestLivenessCrops(t *testing.T) {
	for _, tc := range []struct {
		n, want int
	}{{1, 1}, {3, 3}, {5, 5}, {0, 1}} {
		if got := len(livenessCrops(tc.n)); got != tc.want {
			t.Errorf("livenessCrops(%d) has %d crops, want %d", tc.n, got, tc.want)
		}
	}
	// Every fused crop stays inside the 1.2–1.3 × box band where the model
	// separates genuine from attack captures (models/manifest.json).
	for _, c := range livenessCrops(5) {
		if s := 1.25 * c.scale; s < 1.19 || s > 1.31 {
			t.Errorf("crop scale %.3f outside 1.2–1.3", s)
		}
	}
}
