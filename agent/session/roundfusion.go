package session

import "math"

// A capture round's liveness is fused over its frames: every analysed
// frame with exactly one good face (a Candidate, passing local liveness or
// not) adds the logit of its subject's probability live,
// logit(p) = ln(p/(1−p)) with p clamped to [1e-6, 1−1e-6], and the round's
// liveness is the logistic of their mean (Round.Liveness). The upload
// reports it as the device liveness, so one lucky or unlucky frame does
// not decide it. The round also keeps, besides its best frame, the
// MaxExtras next-best frames (other analysed frames, so other moments of
// the round), uploaded as the submission's extra images for the
// gateway's own fusion and replay checks.

// MaxExtras is how many extra frames an upload carries (the gateway's
// api.MaxSelfieExtra).
const MaxExtras = 2

// RoundLiveness accumulates the liveness logits of a capture round.
type RoundLiveness struct {
	Sum float64 // sum of the logits
	N   int     // frames counted
}

// Add counts one frame's probability live (0–1); a negative p (not
// scored) is ignored.
func (r RoundLiveness) Add(p float64) RoundLiveness {
	if p < 0 {
		return r
	}
	p = min(max(p, 1e-6), 1-1e-6)
	r.Sum += math.Log(p / (1 - p))
	r.N++
	return r
}

// Liveness is the round's fused probability live, 0–1: the logistic of
// the mean logit; −1 when no frame was counted.
func (r RoundLiveness) Liveness() float64 {
	if r.N == 0 {
		return -1
	}
	return 1 / (1 + math.Exp(-r.Sum/float64(r.N)))
}

// keepCandidate adds the one-face frame c to the round: it counts its
// liveness, makes it the best frame when it is better than the current
// one, and keeps the MaxExtras best of the others as extras (ranked by
// better, the earlier frame winning ties).
func keepCandidate(s State, c *Candidate) State {
	s.RoundLive = s.RoundLive.Add(c.Face.Liveness)
	out := c
	if better(c, s.Best) {
		out, s.Best = s.Best, c
	}
	if out == nil {
		return s
	}
	extras := make([]*Candidate, 0, MaxExtras+1)
	placed := false
	for _, e := range s.Extras {
		if !placed && better(out, e) {
			extras, placed = append(extras, out), true
		}
		extras = append(extras, e)
	}
	if !placed {
		extras = append(extras, out)
	}
	if len(extras) > MaxExtras {
		extras = extras[:MaxExtras]
	}
	s.Extras = extras
	return s
}

// uploadAction is the Upload of the current try: the round's best frame,
// its extras and its fused liveness.
func (s State) uploadAction() Upload {
	return Upload{Candidate: s.Upload, Extras: s.Extras, Liveness: s.RoundLive.Liveness(), Key: s.UploadKey, Try: s.UploadTry}
}
