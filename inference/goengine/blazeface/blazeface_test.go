package blazeface_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/goengine/blazeface"
	"github.com/faceverify/faceverify/inference/onnx"
	"github.com/faceverify/faceverify/internal/testenv"
)

func root(t *testing.T) string {
	dir, _ := filepath.Abs("../../..")
	if _, err := os.Stat(filepath.Join(dir, "models", "tflite", "face_detection_short_range.tflite")); err != nil {
		testenv.Missing(t, "models not fetched (run `make models`)")
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "shared", "testdata", "labels.csv")); err != nil {
		testenv.Missing(t, "labelled photos not found in ../shared/testdata")
	}
	return dir
}

// TestAgreesWithONNXDetector: on every shared photo where the ONNX pipeline
// finds exactly one face, BlazeFace finds it too (IoU ≥ 0.5 with the ONNX
// box), and its eye keypoints lie near the centres of the 68-point eye
// landmarks (within 0.15 × the face width; the two models place the eye
// differently). Faces under 0.11 × the longer image side are outside the
// short-range model's design range and are skipped. A wrong weight layout, padding
// or anchor would miss both.
func TestAgreesWithONNXDetector(t *testing.T) {
	dir := root(t)
	bf, err := blazeface.New(filepath.Join(dir, "models", "tflite", "face_detection_short_range.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := inference.DefaultConfig()
	cfg.ModelsDir = filepath.Join(dir, "models")
	cfg.Engine = inference.EngineGo
	eng, err := onnx.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	td := filepath.Join(dir, "..", "shared", "testdata")
	var files []string
	for _, sub := range []string{"identity", "liveness", "hard"} {
		ents, _ := os.ReadDir(filepath.Join(td, sub))
		for _, e := range ents {
			files = append(files, filepath.Join(sub, e.Name()))
		}
	}
	sort.Strings(files)
	checked := 0
	for _, f := range files {
		fh, err := os.Open(filepath.Join(td, f))
		if err != nil {
			t.Fatal(err)
		}
		img, err := inference.Decode(fh, cfg.MaxPixels)
		fh.Close()
		if err != nil {
			continue
		}
		rgba := inference.ToOpaqueRGBA(img, nil)
		an, err := eng.Analyze(context.Background(), rgba, inference.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(an.Faces) != 1 {
			continue
		}
		ref := an.Faces[0]
		if long := math.Max(float64(an.Width), float64(an.Height)); ref.Box.W < 0.11*long {
			// the short-range model sees faces of ≥ ~20 px in its 128 px
			// input (within ~2 m of a kiosk camera)
			t.Logf("%s: face %.0f px of %.0f, outside the short range", f, ref.Box.W, long)
			continue
		}
		faces, err := bf.Detect(rgba, blazeface.MinScore, blazeface.NMSIoU)
		if err != nil {
			t.Fatal(err)
		}
		best, bestIoU := -1, 0.0
		for i, fc := range faces {
			if v := inference.IoU(fc.Box, ref.Box); v > bestIoU {
				best, bestIoU = i, v
			}
		}
		if best < 0 || bestIoU < 0.5 {
			t.Errorf("%s: BlazeFace (%d faces) misses the ONNX face %+v (best IoU %.2f)", f, len(faces), ref.Box, bestIoU)
			continue
		}
		checked++
		fc := faces[best]
		eye := func(lo int) inference.Point {
			var p inference.Point
			for i := lo; i < lo+6; i++ {
				p.X += ref.Landmarks[i].X / 6
				p.Y += ref.Landmarks[i].Y / 6
			}
			return p
		}
		// 68-point indices 36–41 are the eye on the image left (the
		// subject's right eye), 42–47 the other.
		for _, e := range []struct {
			kp, lm int
		}{{blazeface.RightEye, 36}, {blazeface.LeftEye, 42}} {
			want := eye(e.lm)
			got := fc.Keypoints[e.kp]
			if d := math.Hypot(got.X-want.X, got.Y-want.Y) / ref.Box.W; d > 0.15 {
				t.Errorf("%s: keypoint %d at %.0f,%.0f, landmark eye centre %.0f,%.0f (%.2f face widths)", f, e.kp, got.X, got.Y, want.X, want.Y, d)
			}
		}
		t.Logf("%s: score %.3f IoU %.2f", f, fc.Score, bestIoU)
	}
	if checked < 10 {
		t.Errorf("only %d photos compared", checked)
	}
}
