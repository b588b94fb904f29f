package session

import (
	"testing"

	"github.com/faceverify/faceverify/inference"
)

func TestGuideFor(t *testing.T) {
	g := GuideConfig{MinFaceSize: 40, MinSharpness: 10, MinBrightness: 40, MaxBrightness: 225}
	// 640×480 frame: oval 336 px high, 252 px wide, centred at (320,240).
	face := func(x, y, w, h float64, mod func(*inference.Face)) inference.Analysis {
		f := inference.Face{Box: inference.Box{X: x, Y: y, W: w, H: h}, Score: 0.99,
			Quality: inference.Quality{FaceSize: min(w, h), Sharpness: 200, Brightness: 120}}
		if mod != nil {
			mod(&f)
		}
		return inference.Analysis{Width: 640, Height: 480, Faces: []inference.Face{f}, Decision: inference.DecisionOK, Subject: 0}
	}
	centred := func(mod func(*inference.Face)) inference.Analysis { return face(240, 140, 160, 200, mod) }
	frontal := make([]inference.Point, 68)
	for i := 36; i < 42; i++ {
		frontal[i] = inference.Point{X: 280, Y: 200}
		frontal[i+6] = inference.Point{X: 360, Y: 200}
	}
	frontal[30] = inference.Point{X: 322, Y: 240}
	turned := append([]inference.Point(nil), frontal...)
	turned[30] = inference.Point{X: 350, Y: 240} // 30 px off a 80 px eye distance: 0.375

	cases := []struct {
		name string
		a    inference.Analysis
		prev *inference.Box
		want string
	}{
		{"no face", inference.Analysis{Width: 640, Height: 480, Decision: inference.DecisionNoFace, Subject: -1}, nil, GuideNoFace},
		{"subject out of range", inference.Analysis{Width: 640, Height: 480, Decision: inference.DecisionOK, Subject: 2}, nil, GuideNoFace},
		{"two people", inference.Analysis{Width: 640, Height: 480, Decision: inference.DecisionMultipleFaces, Subject: 0}, nil, GuideOnePerson},
		{"centred and good", centred(nil), nil, GuideGood},
		{"38 px face is below min_face_size", face(300, 220, 38, 38, nil), nil, GuideMoveCloser},
		{"small in the oval (box 120 < 0.40·336)", face(260, 180, 110, 120, nil), nil, GuideMoveCloser},
		{"fills more than the oval", face(140, 40, 300, 350, nil), nil, GuideMoveBack},
		{"cut by the frame edge", centred(func(f *inference.Face) { f.Quality.Truncated = true }), nil, GuideMoveBack},
		{"off to the left (centre 140 vs 320, > 0.2·252)", face(60, 140, 160, 200, nil), nil, GuideCenter},
		{"too low (centre 340 vs 240, > 0.2·336)", face(240, 240, 160, 200, nil), nil, GuideCenter},
		{"slightly off is fine (40 px < 50.4)", face(280, 140, 160, 200, nil), nil, GuideGood},
		{"dark", centred(func(f *inference.Face) { f.Quality.Brightness = 30 }), nil, GuideMoreLight},
		{"bright", centred(func(f *inference.Face) { f.Quality.Brightness = 240 }), nil, GuideLessLight},
		{"blurred", centred(func(f *inference.Face) { f.Quality.Sharpness = 5 }), nil, GuideHoldStill},
		{"moved 40 px (> 0.15·160)", centred(nil), &inference.Box{X: 200, Y: 140, W: 160, H: 200}, GuideHoldStill},
		{"moved 10 px", centred(nil), &inference.Box{X: 230, Y: 140, W: 160, H: 200}, GuideGood},
		{"frontal landmarks", centred(func(f *inference.Face) { f.Landmarks = frontal }), nil, GuideGood},
		{"head turned", centred(func(f *inference.Face) { f.Landmarks = turned }), nil, GuideLookAtCamera},
		{"failed liveness is not revealed", centred(func(f *inference.Face) { f.Liveness, f.Live = 0.05, false }), nil, GuideGood},
		{"low quality without a named gate", func() inference.Analysis {
			a := centred(nil)
			a.Decision = inference.DecisionLowQuality
			return a
		}(), nil, GuideHoldStill},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := GuideFor(tc.a, tc.prev, g); got != tc.want {
				t.Errorf("GuideFor = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestGuideThresholdsFollowConfig(t *testing.T) {
	a := inference.Analysis{Width: 640, Height: 480, Decision: inference.DecisionOK, Subject: 0,
		Faces: []inference.Face{{Box: inference.Box{X: 240, Y: 140, W: 160, H: 200},
			Quality: inference.Quality{FaceSize: 160, Sharpness: 50, Brightness: 60}}}}
	for _, tc := range []struct {
		g    GuideConfig
		want string
	}{
		{GuideConfig{MinFaceSize: 40, MinSharpness: 10, MinBrightness: 40, MaxBrightness: 225}, GuideGood},
		{GuideConfig{MinFaceSize: 200, MinSharpness: 10, MinBrightness: 40, MaxBrightness: 225}, GuideMoveCloser},
		{GuideConfig{MinFaceSize: 40, MinSharpness: 100, MinBrightness: 40, MaxBrightness: 225}, GuideHoldStill},
		{GuideConfig{MinFaceSize: 40, MinSharpness: 10, MinBrightness: 80, MaxBrightness: 225}, GuideMoreLight},
		{GuideConfig{MinFaceSize: 40, MinSharpness: 10, MinBrightness: 0, MaxBrightness: 50}, GuideLessLight},
	} {
		if got := GuideFor(a, nil, tc.g); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.g, got, tc.want)
		}
	}
}

func TestProgress(t *testing.T) {
	for _, tc := range []struct{ streak, pass, want int }{
		{0, 2, 0}, {1, 2, 50}, {2, 2, 100}, {5, 2, 100}, {1, 3, 33}, {1, 0, 0},
	} {
		if got := Progress(tc.streak, tc.pass); got != tc.want {
			t.Errorf("Progress(%d,%d) = %d, want %d", tc.streak, tc.pass, got, tc.want)
		}
	}
}

// TestGuideActions: the session reports guidance only when the code or the
// progress changes.
func TestGuideActions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PassFrames = 3
	cfg.Guide = GuideConfig{MinFaceSize: 40, MinSharpness: 10, MinBrightness: 40, MaxBrightness: 225}
	now := t0
	s, _ := Next(New(cfg), Start{ID: "s", CorrelationID: "c"}, now)
	far := inference.Analysis{Width: 640, Height: 480, Decision: inference.DecisionLowQuality, Subject: 0,
		Faces: []inference.Face{{Box: inference.Box{X: 300, Y: 220, W: 30, H: 30}, Quality: inference.Quality{FaceSize: 30, Sharpness: 200, Brightness: 120}}}}
	good := inference.Analysis{Width: 640, Height: 480, Decision: inference.DecisionOK, Subject: 0,
		Faces: []inference.Face{{Box: inference.Box{X: 240, Y: 140, W: 160, H: 200}, Live: true, Liveness: 0.9,
			Quality: inference.Quality{FaceSize: 160, Sharpness: 200, Brightness: 120}}}}
	var got []Guide
	for i, a := range []inference.Analysis{far, far, good, good, good} {
		var acts []Action
		ev := frame(uint64(i+1), a)
		ev.Gen = s.Gen
		s, acts = Next(s, ev, now)
		for _, act := range acts {
			if g, ok := act.(Guide); ok {
				got = append(got, g)
			}
		}
	}
	want := []Guide{{GuideMoveCloser, 0, 1}, {GuideGood, 33, 1}, {GuideGood, 66, 1}, {GuideGood, 100, 1}}
	if len(got) != len(want) {
		t.Fatalf("guide actions %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("guide action %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
