package onnx

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/faceverify/faceverify/inference"
)

// TestTrackerKeepsDecisions replays every decodable labelled photo and
// every hard/ case as a three-frame capture round with one Tracker: each
// frame's decision and faces are those of an analysis without tracking,
// the confirmation pass runs on the first frame only, and the cat close-up
// (found by the detector at 0.97, refused by the confirmation) is NO_FACE
// on every frame: its track keeps the refusal.
func TestTrackerKeepsDecisions(t *testing.T) {
	td := testdataDir(t)
	e := testEngine(t)
	var files []string
	for _, r := range readCSV(t, td, "labels.csv")[1:] {
		files = append(files, r[0])
	}
	hard, _ := filepath.Glob(filepath.Join(td, "hard", "*"))
	for _, f := range hard {
		files = append(files, filepath.Join("hard", filepath.Base(f)))
	}
	seen := map[string]bool{}
	sawCat := false
	for _, file := range files {
		if seen[file] {
			continue
		}
		seen[file] = true
		img, err := decodeFile(t, filepath.Join(td, file))
		if err != nil {
			continue // undecodable inputs never reach the analyser
		}
		opts := inference.Options{Liveness: true}
		want, err := e.Analyze(context.Background(), img, opts)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := e.Detector.Detect(img, e.cfg.DetectionThreshold, e.cfg.NMSIoU)
		if err != nil {
			t.Fatal(err)
		}
		tr := new(inference.Tracker)
		opts.Track = tr
		for frame := 1; frame <= 3; frame++ {
			got, err := e.Analyze(context.Background(), img, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got.Decision != want.Decision || len(got.Faces) != len(want.Faces) {
				t.Fatalf("%s frame %d: %s with %d faces, without tracking %s with %d", file, frame,
					got.Decision, len(got.Faces), want.Decision, len(want.Faces))
			}
			for i := range got.Faces {
				if got.Faces[i].Box != want.Faces[i].Box || got.Faces[i].Liveness != want.Faces[i].Liveness {
					t.Fatalf("%s frame %d face %d: %+v, without tracking %+v", file, frame, i, got.Faces[i].Box, want.Faces[i].Box)
				}
			}
		}
		confirmed, reused := tr.Counts()
		if confirmed != len(raw) || reused != 2*len(raw) {
			t.Errorf("%s: %d confirmation passes and %d verdicts reused over 3 frames, want %d and %d",
				file, confirmed, reused, len(raw), 2*len(raw))
		}
		if filepath.Base(file) == "no_face_cat.png" {
			sawCat = true
			if len(raw) == 0 || want.Decision != inference.DecisionNoFace {
				t.Fatalf("cat: %d raw detections, decision %s; the test needs the detector to find it and the confirmation to refuse it", len(raw), want.Decision)
			}
		}
	}
	if !sawCat {
		t.Fatal("hard/no_face_cat.png not found")
	}
}

// TestTrackerRoundWithCatAfterFace: a cat close-up analysed right after a
// confirmed face, in the same round, is still refused, and the face
// coming back after it is confirmed again.
func TestTrackerRoundWithCatAfterFace(t *testing.T) {
	td := testdataDir(t)
	e := testEngine(t)
	tr := new(inference.Tracker)
	opts := inference.Options{Liveness: true, Track: tr}
	for _, c := range []struct {
		file string
		want inference.Decision
	}{
		{"liveness/live_01.jpg", inference.DecisionOK},
		{"liveness/live_01.jpg", inference.DecisionOK},
		{"hard/no_face_cat.png", inference.DecisionNoFace},
		{"hard/no_face_cat.png", inference.DecisionNoFace},
		{"liveness/live_01.jpg", inference.DecisionOK},
	} {
		an, _ := analyzeFile(t, e, filepath.Join(td, c.file), opts)
		if an.Decision != c.want {
			t.Fatalf("%s: %s, want %s", c.file, an.Decision, c.want)
		}
	}
	// live_01's detections confirmed on frames 1 and 5 (the cat ended its
	// tracks), the cat's on frame 3; verdicts reused on frames 2 and 4.
	count := func(file string) int {
		img, err := decodeFile(t, filepath.Join(td, file))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := e.Detector.Detect(img, e.cfg.DetectionThreshold, e.cfg.NMSIoU)
		if err != nil || len(raw) == 0 {
			t.Fatalf("%s: %d detections (%v)", file, len(raw), err)
		}
		return len(raw)
	}
	live, cat := count("liveness/live_01.jpg"), count("hard/no_face_cat.png")
	if confirmed, reused := tr.Counts(); confirmed != 2*live+cat || reused != live+cat {
		t.Fatalf("confirmation passes %d, verdicts reused %d; want %d and %d", confirmed, reused, 2*live+cat, live+cat)
	}
}
