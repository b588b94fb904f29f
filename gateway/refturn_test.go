package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/faceverify/faceverify/inference"
)

// TestRefProfileTurnedReference: a reference stored turned (pixels rotated
// without EXIF) gives the same replay grids as the same photo upright. The
// mirrored crop is realigned from the turned image the landmarks belong
// to; realigned from the unturned image it would show another region.
func TestRefProfileTurnedReference(t *testing.T) {
	td := replayTestdata(t)
	eng := replayEngine(t)
	f, err := os.Open(filepath.Join(td, "identity", "person_c_01.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := inference.Decode(f, inference.DefaultConfig().MaxPixels)
	if err != nil {
		t.Fatal(err)
	}
	upright := inference.ToOpaqueRGBA(img, nil)
	profile := func(t *testing.T, stored int) refProfile {
		t.Helper()
		// The partner stores the photo turned by stored degrees clockwise.
		turned := inference.Turn(upright, stored)
		a, err := eng.Analyze(context.Background(), turned, ReferenceOptions)
		if err != nil {
			t.Fatal(err)
		}
		face, ok := subject(a)
		if a.Decision != inference.DecisionOK || !ok || face.Aligned == nil {
			t.Fatalf("turned %d°: decision %s, subject %v", stored, a.Decision, ok)
		}
		if (a.Rotation+stored)%360 != 0 {
			t.Fatalf("turned %d°: analysis turned it by %d°, want upright", stored, a.Rotation)
		}
		p := newRefProfile(face, turned, a.Rotation)
		if p.Luma == nil || p.MirrorLuma == nil {
			t.Fatalf("turned %d°: no replay grids", stored)
		}
		return p
	}
	want := profile(t, 0)
	for _, stored := range []int{90, 180, 270} {
		t.Run(fmt.Sprintf("turned %d", stored), func(t *testing.T) {
			got := profile(t, stored)
			if c := inference.Correlation(got.Luma, want.Luma); c < 0.9 {
				t.Errorf("aligned grid correlation with the upright reference %.3f, want ≥ 0.9", c)
			}
			if c := inference.Correlation(got.MirrorLuma, want.MirrorLuma); c < 0.9 {
				t.Errorf("mirrored grid correlation with the upright reference %.3f, want ≥ 0.9", c)
			}
			gh, _ := got.MirrorLuma.PHashes()
			wh, _ := want.MirrorLuma.PHashes()
			if d := gh.Distance(wh); d > refNearDistance {
				t.Errorf("mirrored hash distance to the upright reference %d, want ≤ %d", d, refNearDistance)
			}
		})
	}
}
