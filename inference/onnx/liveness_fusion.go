package onnx

import "github.com/faceverify/faceverify/inference"

// livenessCrop is one crop the liveness model scores for a face: the
// manifest's crop_scale times scale, its centre moved by dx crop sides.
type livenessCrop struct {
	scale float64
	dx    float64
}

// shift returns box moved sideways by dx of the crop side (the crop is
// built around the box centre).
func (c livenessCrop) shift(box inference.Box) inference.Box {
	if c.dx == 0 {
		return box
	}
	box.X += c.dx * max(box.W, box.H)
	return box
}

var singleCrop = []livenessCrop{{scale: 1}}

// livenessCrops returns the crops of inference.Config.LivenessCrops: 1 the
// manifest's crop; 3 that crop at ×0.92, ×1 and ×1.08 (1.15×, 1.25× and
// 1.35× the face box, inside the 1.2–1.3 band where the model separates
// genuine from attack captures on ../shared/testdata, see the manifest);
// 5 adds the ×1 crop shifted by ±8 % of its side sideways. The logits of
// the crops are averaged before the softmax (Liveness.Score): a mean in
// logit space keeps one confident crop from being diluted the way a mean
// of probabilities would.
func livenessCrops(n int) []livenessCrop {
	switch n {
	case 3:
		return []livenessCrop{{scale: 0.92}, {scale: 1}, {scale: 1.08}}
	case 5:
		return []livenessCrop{{scale: 0.92}, {scale: 1}, {scale: 1.08}, {scale: 1, dx: -0.08}, {scale: 1, dx: 0.08}}
	default:
		return singleCrop
	}
}
