package session

import (
	"math"
	"testing"
	"time"

	"github.com/faceverify/faceverify/inference"
)

func withLiveness(a inference.Analysis, p float64) inference.Analysis {
	a.Faces = append([]inference.Face(nil), a.Faces...)
	a.Faces[0].Liveness = p
	return a
}

// TestRoundFusion: the upload carries the round's fused liveness (mean of
// logits over its one-face frames) and the next-best frames as extras.
func TestRoundFusion(t *testing.T) {
	logit := func(p float64) float64 { return math.Log(p / (1 - p)) }
	sigmoid := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	tests := []struct {
		name       string
		frames     []FrameAnalyzed
		wantBest   uint64
		wantExtras []uint64
		wantLive   float64
	}{
		{
			name:     "two passing frames",
			frames:   []FrameAnalyzed{frame(1, withLiveness(good(120), 0.8)), frame(2, withLiveness(good(150), 0.95))},
			wantBest: 2, wantExtras: []uint64{1},
			wantLive: sigmoid((logit(0.8) + logit(0.95)) / 2),
		},
		{
			name: "failing and faceless frames: the faceless one does not count, the failing one does",
			frames: []FrameAnalyzed{
				frame(1, withLiveness(spoof(150), 0.1)),
				frame(2, decision(inference.DecisionNoFace)),
				frame(3, withLiveness(good(100), 0.9)),
				frame(4, withLiveness(good(110), 0.7)),
			},
			wantBest: 3, wantExtras: []uint64{4, 1},
			wantLive: sigmoid((logit(0.1) + logit(0.9) + logit(0.7)) / 3),
		},
		{
			name: "at most MaxExtras extras, the best ones",
			frames: []FrameAnalyzed{
				frame(1, withLiveness(spoof(90), 0.2)),
				frame(2, withLiveness(spoof(100), 0.2)),
				frame(3, withLiveness(spoof(160), 0.3)),
				frame(4, withLiveness(spoof(120), 0.2)),
			},
			wantBest: 3, wantExtras: []uint64{4, 2},
			wantLive: sigmoid((3*logit(0.2) + logit(0.3)) / 4),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := []step{begin}
			for i, f := range tt.frames {
				steps = append(steps, step{time.Duration(i+1) * 200 * time.Millisecond, f})
			}
			steps = append(steps, step{5 * time.Second, Timer{TimerCapture}})
			_, all := run(t, steps)
			ups := find[Upload](flat(all))
			if len(ups) != 1 {
				t.Fatalf("uploads %+v, want 1", ups)
			}
			u := ups[0]
			if u.Candidate.Frame.Seq != tt.wantBest {
				t.Errorf("best frame %d, want %d", u.Candidate.Frame.Seq, tt.wantBest)
			}
			var got []uint64
			for _, e := range u.Extras {
				got = append(got, e.Frame.Seq)
			}
			if len(got) != len(tt.wantExtras) || (len(got) > 0 && !equalSeqs(got, tt.wantExtras)) {
				t.Errorf("extras %v, want %v", got, tt.wantExtras)
			}
			if math.Abs(u.Liveness-tt.wantLive) > 1e-9 {
				t.Errorf("round liveness %.6f, want %.6f", u.Liveness, tt.wantLive)
			}
		})
	}
}

func equalSeqs(a, b []uint64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRoundLiveness(t *testing.T) {
	var r RoundLiveness
	if r.Liveness() != -1 {
		t.Errorf("empty round: %v, want -1", r.Liveness())
	}
	r = r.Add(-1) // not scored
	if r.N != 0 {
		t.Errorf("an unscored frame was counted")
	}
	r = r.Add(0.9).Add(0.1)
	if math.Abs(r.Liveness()-0.5) > 1e-12 {
		t.Errorf("symmetric frames: %v, want 0.5", r.Liveness())
	}
	if got := (RoundLiveness{}).Add(1).Liveness(); got >= 1 || got < 0.999 {
		t.Errorf("a certain frame: %v, want just under 1 (clamped)", got)
	}
}
