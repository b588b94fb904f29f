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
// manifest's crop; 3 that crop at ×0.96, ×1 and ×1.04 (1.2×, 1.25× and
// 1.3× the face box: the band where the model separates genuine from
// attack captures on ../shared/testdata, see the manifest; a wider
// 1.15–1.35× set let spoof_screen_03 reach 0.58); 5 adds the ×1 crop
// shifted by ±5 % of its side sideways. The logits of
// the crops are averaged before the softmax (Liveness.Score): a mean in
// logit space keeps one confident crop from being diluted the way a mean
// of probabilities would.
func livenessCrops(n int) []livenessCrop {
	switch n {
	case 3:
		return []livenessCrop{{scale: 0.96}, {scale: 1}, {scale: 1.04}}
	case 5:
		return []livenessCrop{{scale: 0.96}, {scale: 1}, {scale: 1.04}, {scale: 1, dx: -0.05}, {scale: 1, dx: 0.05}}
	default:
		return singleCrop
	}
}
