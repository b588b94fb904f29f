package gateway

import (
	"image"
	"image/color"
	"math"
	"slices"
	"testing"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
)

func TestReplayEvidenceCopied(t *testing.T) {
	tests := []struct {
		name    string
		ev      replayEvidence
		want    bool
		signals []string
	}{
		{"identical", replayEvidence{0, 1, 1}, true, []string{"phash", "correlation"}},
		{"hash alone at its limit", replayEvidence{refCopyDistance, 0.2, 0.5}, true, []string{"phash"}},
		{"correlation alone", replayEvidence{30, refCopyCorrelation, 0.5}, true, []string{"correlation"}},
		{"genuine pair, closest measured", replayEvidence{20, 0.618, 0.821}, false, nil},
		{"cosine alone", replayEvidence{30, 0.3, 0.99}, false, nil},
		{"cosine and a near hash", replayEvidence{refNearDistance, 0.3, refNearCosine}, true, []string{"phash", "cosine"}},
		{"cosine and a near correlation", replayEvidence{30, refNearCorrelation, refNearCosine}, true, []string{"correlation", "cosine"}},
		{"near hash and near correlation", replayEvidence{refNearDistance, refNearCorrelation, 0.5}, true, []string{"phash", "correlation"}},
		{"one near signal", replayEvidence{refNearDistance, 0.5, 0.5}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, signals := tt.ev.copied()
			if got != tt.want || !slices.Equal(signals, tt.signals) {
				t.Errorf("copied() = %v %v, want %v %v", got, signals, tt.want, tt.signals)
			}
		})
	}
}

func TestJudgeReplays(t *testing.T) {
	sim := 0.99
	tests := []struct {
		name string
		o    outcome
		want verdict
	}{
		{"submission replay is final", outcome{selfie: inference.DecisionOK, submissionReplay: true}, verdict{api.StatusRejected, api.ReasonSubmissionReplay, true}},
		{"reference replay beats the match", outcome{selfie: inference.DecisionOK, referenceReplay: true, similarity: &sim}, verdict{api.StatusRejected, api.ReasonReferenceReplay, true}},
		{"liveness first", outcome{selfie: inference.DecisionLivenessFailed, submissionReplay: true}, verdict{api.StatusRejected, api.ReasonLivenessFailed, false}},
		{"unavailable reference: nothing to compare", outcome{selfie: inference.DecisionOK, referenceErr: errReferenceUnusable}, verdict{api.StatusRejected, api.ReasonReferenceUnavailable, true}},
	}
	for _, tt := range tests {
		if got := judge(tt.o, 1, 3, 0.35); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// testFace is a face whose aligned crop is a smooth pattern from seed,
// with 68 landmarks placing the ArcFace points in a 640×480 frame.
func testFace(seed float64) (inference.Face, *image.RGBA) {
	frame := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			v := 128 + 60*math.Sin(float64(x)*0.05*seed+float64(y)*0.03) + 40*math.Cos(float64(y)*0.07*seed)
			g := uint8(max(0, min(255, v)))
			frame.SetRGBA(x, y, color.RGBA{g, g, g, 255})
		}
	}
	lm := make([]inference.Point, 68)
	for i := range lm {
		lm[i] = inference.Point{X: 320, Y: 240}
	}
	for _, p := range []struct {
		pt  inference.Point
		idx []int
	}{
		{inference.Point{X: 280, Y: 220}, []int{37, 38, 40, 41}},
		{inference.Point{X: 360, Y: 220}, []int{43, 44, 46, 47}},
		{inference.Point{X: 320, Y: 260}, []int{30}},
		{inference.Point{X: 290, Y: 300}, []int{48, 60}},
		{inference.Point{X: 350, Y: 300}, []int{54, 64}},
	} {
		for _, i := range p.idx {
			lm[i] = p.pt
		}
	}
	aligned := image.NewRGBA(image.Rect(0, 0, inference.ArcFaceSize, inference.ArcFaceSize))
	if _, err := inference.AlignFace(aligned, frame, lm); err != nil {
		panic(err)
	}
	emb := make([]float32, 512)
	emb[0] = 1
	return inference.Face{Landmarks: lm, Aligned: aligned, Embedding: emb}, frame
}

// BenchmarkReferenceReplayCheck is what the replay checks add to one
// submission besides the store: the selfie's hashes and the comparison
// with the reference (three crops, two hashes and a correlation each).
func BenchmarkReferenceReplayCheck(b *testing.B) {
	selfie, _ := testFace(1)
	ref, frame := testFace(1.3)
	b.ReportAllocs()
	for b.Loop() {
		newFaceprint(selfie)
		if _, ok := referenceEvidence(selfie, ref, frame, 0); !ok {
			b.Fatal("no evidence")
		}
	}
}
