package agent

import (
	"sync"

	"github.com/faceverify/faceverify/agent/session"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
)

// uploadCrops crops and encodes an upload's selfie and extra frames
// (session.crop_scale, crop_max_side, jpeg_quality), all at once: while a
// round uploads the camera is closed and no analysis runs, so each image
// takes a core and the upload waits for the slowest, not for their sum.
// It returns the selfie's JPEG and the extras' in the round's order. An
// extra that cannot be cropped or encoded is left out (the extras are
// evidence for the gateway, the selfie alone is a valid submission); the
// selfie's failure is the error.
func (a *Agent) uploadCrops(u *session.Upload) (selfie []byte, extras [][]byte, err error) {
	frames := append([]*session.Candidate{u.Candidate}, u.Extras...)
	out := make([][]byte, len(frames))
	errs := make([]error, len(frames))
	var wg sync.WaitGroup
	for i, c := range frames {
		wg.Go(func() {
			crop, err := inference.CropFace(c.Frame.Image, c.Face.Box, a.cfg.Session.CropScale, a.cfg.Session.CropMaxSide)
			if err == nil {
				out[i], err = inference.EncodeJPEG(crop, a.cfg.Session.JPEGQuality)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if errs[0] != nil {
		return nil, nil, errs[0]
	}
	for i := 1; i < len(frames) && len(extras) < api.MaxSelfieExtra; i++ {
		if errs[i] != nil {
			a.log.Debug("extra frame not cropped", "err", errs[i])
			continue
		}
		extras = append(extras, out[i])
	}
	return out[0], extras, nil
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
