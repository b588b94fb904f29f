package agent

import (
	"github.com/faceverify/faceverify/agent/session"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
)

// extraCrops crops and encodes an upload's extra frames as the selfie is
// (session.crop_scale, crop_max_side, jpeg_quality). A frame that cannot be
// cropped is left out: the extras are evidence for the gateway, the
// selfie alone is a valid submission.
func (a *Agent) extraCrops(u *session.Upload) [][]byte {
	var out [][]byte
	for _, c := range u.Extras {
		if len(out) == api.MaxSelfieExtra {
			break
		}
		crop, err := inference.CropFace(c.Frame.Image, c.Face.Box, a.cfg.Session.CropScale, a.cfg.Session.CropMaxSide)
		if err != nil {
			a.log.Debug("extra frame not cropped", "err", err)
			continue
		}
		b, err := inference.EncodeJPEG(crop, a.cfg.Session.JPEGQuality)
		if err != nil {
			a.log.Debug("extra frame not encoded", "err", err)
			continue
		}
		out = append(out, b)
	}
	return out
}

// deviceLiveness is the device liveness an upload reports: the capture
// round's fused liveness (session.RoundLiveness) judged against
// inference.liveness_threshold, or the uploaded frame's own score when the
// round has none.
func (a *Agent) deviceLiveness(u *session.Upload) api.DeviceLiveness {
	if u.Liveness < 0 {
		return api.DeviceLiveness{Score: max(u.Candidate.Face.Liveness, 0), Live: u.Candidate.Face.Live, Model: a.d.LivenessModel}
	}
	return api.DeviceLiveness{Score: u.Liveness, Live: u.Liveness >= a.cfg.Inference.LivenessThreshold, Model: a.d.LivenessModel}
}
