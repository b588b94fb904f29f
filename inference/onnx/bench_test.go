package onnx

import (
	"context"
	"image"
	"path/filepath"
	"testing"
	"time"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/testenv"
)

// benchInput is live_01.jpg (480×640 after EXIF), its first detection and
// landmarks.
func benchInput(b *testing.B) (*Engine, *image.RGBA, Detection, []inference.Point) {
	td := testdataDir(b)
	e := testEngine(b)
	img, err := decodeFile(b, filepath.Join(td, "liveness", "live_01.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	dets, err := e.Detector.Detect(img, 0.7, 0.4)
	if err != nil || len(dets) == 0 {
		b.Fatalf("no face: %v", err)
	}
	lm, err := e.Landmarker.Landmarks(img, dets[0].Box, nil)
	if err != nil {
		b.Fatal(err)
	}
	return e, img, dets[0], lm
}

func BenchmarkDetect(b *testing.B) {
	e, img, _, _ := benchInput(b)
	b.ReportAllocs()
	defer testenv.CPUMeter(b, time.Millisecond)()
	for b.Loop() {
		if _, err := e.Detector.Detect(img, 0.7, 0.4); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConfirm(b *testing.B) {
	e, img, d, _ := benchInput(b)
	b.ReportAllocs()
	defer testenv.CPUMeter(b, time.Millisecond)()
	for b.Loop() {
		if _, err := e.Detector.Confirm(img, d.Box, 0.7, 0.4); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLiveness(b *testing.B) {
	e, img, d, _ := benchInput(b)
	b.ReportAllocs()
	defer testenv.CPUMeter(b, time.Millisecond)()
	for b.Loop() {
		if _, err := e.Liveness.Score(img, d.Box); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLandmarks(b *testing.B) {
	e, img, d, _ := benchInput(b)
	dst := make([]inference.Point, 0, 68)
	b.ReportAllocs()
	defer testenv.CPUMeter(b, time.Millisecond)()
	for b.Loop() {
		var err error
		if dst, err = e.Landmarker.Landmarks(img, d.Box, dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAlign(b *testing.B) {
	_, img, _, lm := benchInput(b)
	dst := image.NewRGBA(image.Rect(0, 0, inference.ArcFaceSize, inference.ArcFaceSize))
	b.ReportAllocs()
	defer testenv.CPUMeter(b, time.Millisecond)()
	for b.Loop() {
		if _, err := inference.AlignFace(dst, img, lm); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEmbed(b *testing.B) {
	e, img, _, lm := benchInput(b)
	aligned := image.NewRGBA(image.Rect(0, 0, inference.ArcFaceSize, inference.ArcFaceSize))
	if _, err := inference.AlignFace(aligned, img, lm); err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, EmbeddingSize)
	b.ReportAllocs()
	defer testenv.CPUMeter(b, time.Millisecond)()
	for b.Loop() {
		if _, err := e.Embedder.Embed(aligned, dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnalyze(b *testing.B) {
	e, img, _, _ := benchInput(b)
	ctx := context.Background()
	b.ReportAllocs()
	defer testenv.CPUMeter(b, time.Millisecond)()
	for b.Loop() {
		if _, err := e.Analyze(ctx, img, inference.Options{Liveness: true, Embed: true}); err != nil {
			b.Fatal(err)
		}
	}
}
