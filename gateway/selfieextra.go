package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
)

// A submission may carry, besides its selfie, up to api.MaxSelfieExtra
// face crops taken at other moments of the same capture round
// (SubmissionRequest.SelfieExtra). Each is held to the selfie's limits
// (limits.max_selfie_bytes, the selfie pixel limit, the decode budget) and
// decoded at upload like the selfie. At rest the selfie and its extras are
// sealed together as one selfie bundle (below), so they are encrypted,
// kept and erased exactly as a selfie is; a submission without extras is
// stored as the bare image, as before.
//
// Processing: the liveness of the selfie's subject and of each extra's is
// fused as the mean of their logits, logit(p) = ln(p/(1−p)), the fused
// probability being the logistic of that mean; an extra whose analysis
// finds no single usable face counts as a failed liveness sample (p = 0)
// rather than being skipped, so a sender cannot choose which images count.
// Every extra goes through the same replay checks as the selfie: it is
// recorded in and compared with the selfies of other flows, and compared
// with the partner's reference; a replayed extra rejects the submission
// as the selfie would.

// bundleMagic starts a sealed selfie bundle: bytes that neither a JPEG
// (FF D8) nor a PNG (89 50) starts with.
var bundleMagic = []byte("FVSB\x01")

// packSelfies returns the plain bytes sealed for a submission: selfie
// itself when there are no extras, else bundleMagic, the image count and
// each image as a uvarint length and its bytes.
func packSelfies(selfie []byte, extras [][]byte) []byte {
	if len(extras) == 0 {
		return selfie
	}
	n := len(bundleMagic) + 1 + len(selfie) + binary.MaxVarintLen64
	for _, e := range extras {
		n += len(e) + binary.MaxVarintLen64
	}
	out := append(make([]byte, 0, n), bundleMagic...)
	out = append(out, byte(1+len(extras)))
	for _, img := range append([][]byte{selfie}, extras...) {
		out = binary.AppendUvarint(out, uint64(len(img)))
		out = append(out, img...)
	}
	return out
}

// errBundle is returned by unpackSelfies for a bundle that does not parse.
var errBundle = errors.New("malformed selfie bundle")

// unpackSelfies splits the plain bytes of a sealed selfie into the selfie
// and its extras; bytes without bundleMagic (every submission stored
// before bundles, and any without extras) are the selfie alone. The
// results alias plain. Errors: errBundle.
func unpackSelfies(plain []byte) (selfie []byte, extras [][]byte, err error) {
	if !bytes.HasPrefix(plain, bundleMagic) {
		return plain, nil, nil
	}
	rest := plain[len(bundleMagic):]
	if len(rest) == 0 || rest[0] < 2 || int(rest[0]) > 1+api.MaxSelfieExtra { // packSelfies writes a bundle only with extras
		return nil, nil, errBundle
	}
	count := int(rest[0])
	rest = rest[1:]
	imgs := make([][]byte, 0, count)
	for range count {
		l, k := binary.Uvarint(rest)
		if k <= 0 || l == 0 || l > uint64(len(rest)-k) {
			return nil, nil, errBundle
		}
		imgs = append(imgs, rest[k:k+int(l)])
		rest = rest[k+int(l):]
	}
	if len(rest) != 0 {
		return nil, nil, errBundle
	}
	return imgs[0], imgs[1:], nil
}

// validateExtras checks SubmissionRequest.SelfieExtra: at most
// api.MaxSelfieExtra images, each non-empty, within limits.max_selfie_bytes
// (413 payload_too_large) and decodable within the selfie pixel limit and
// the decode budget (checkSelfie's answers, naming selfie_extra[i]).
func (g *Gateway) validateExtras(ctx context.Context, extras [][]byte) error {
	if len(extras) > api.MaxSelfieExtra {
		return badRequest("selfie_extra: at most %d images, got %d", api.MaxSelfieExtra, len(extras))
	}
	for i, e := range extras {
		field := fmt.Sprintf("selfie_extra[%d]", i)
		switch {
		case len(e) == 0:
			return badRequest("%s: empty (JPEG or PNG bytes, base64 in JSON)", field)
		case int64(len(e)) > g.cfg.Limits.MaxSelfieBytes:
			return &httpError{http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, fmt.Sprintf("%s: %d bytes, limit %d", field, len(e), g.cfg.Limits.MaxSelfieBytes)}
		}
		if err := g.checkSelfie(ctx, e); err != nil {
			var he *httpError
			if errors.As(err, &he) {
				he.msg = strings.Replace(he.msg, "selfie:", field+":", 1)
			}
			return err
		}
	}
	return nil
}

// extraSample is one analysed extra image.
type extraSample struct {
	face     inference.Face
	liveness float64 // probability live of its subject, 0 when none
	usable   bool    // one face with an aligned crop: replay-checked
}

// analyzeExtras decodes and analyses each extra image as the selfie is
// analysed. An extra that cannot be decoded or has no usable subject face
// is a sample with liveness 0. Errors: a runtime failure (decode budget,
// analyzer), which hands the submission back.
func (g *Gateway) analyzeExtras(ctx context.Context, extras [][]byte) ([]extraSample, error) {
	out := make([]extraSample, 0, len(extras))
	for i, e := range extras {
		t := time.Now()
		img, release, kept := g.decoded.take(e)
		var err error
		if !kept {
			img, release, err = g.decodeImage(ctx, e, g.cfg.selfiePixels())
		}
		if errors.Is(err, errDecodeBusy) {
			return nil, fmt.Errorf("decode selfie_extra[%d]: %w", i, err)
		}
		if err != nil {
			out = append(out, extraSample{})
			continue
		}
		a, err := g.analyzer.Analyze(ctx, img, SelfieOptions)
		release()
		g.metrics.stage.WithLabelValues("selfie_extra").Observe(time.Since(t).Seconds())
		if err != nil {
			return nil, fmt.Errorf("analyze selfie_extra[%d]: %w", i, err)
		}
		s := extraSample{}
		f, ok := subject(a)
		if ok && (a.Decision == inference.DecisionOK || a.Decision == inference.DecisionLivenessFailed) && f.Liveness >= 0 {
			s = extraSample{face: f, liveness: f.Liveness, usable: f.Aligned != nil}
		}
		out = append(out, s)
	}
	return out, nil
}

// FuseLiveness returns the liveness of several images of one capture
// round: the logistic of the mean logit of their probabilities live
// (each 0–1, clamped to [1e-6, 1−1e-6] so one certain sample cannot
// dominate). It returns −1 for no samples.
func FuseLiveness(ps ...float64) float64 {
	if len(ps) == 0 {
		return -1
	}
	var sum float64
	for _, p := range ps {
		p = min(max(p, 1e-6), 1-1e-6)
		sum += math.Log(p / (1 - p))
	}
	return 1 / (1 + math.Exp(-sum/float64(len(ps))))
}

// extrasReplay runs the submission-replay check on every extra: each is
// recorded as a selfie of sub's flow (under sub.ID/extra<i>: its bytes'
// digest, and its face hash when its analysis gave an aligned face) and
// compared with the selfies of other flows. Store failures are returned.
func (g *Gateway) extrasReplay(ctx context.Context, sub Submission, extras [][]byte, samples []extraSample) (bool, error) {
	for i, e := range extras {
		var face inference.Face
		if i < len(samples) && samples[i].usable {
			face = samples[i].face
		}
		replayed, err := g.imageReplay(ctx, fmt.Sprintf("%s/extra%d", sub.ID, i+1), sub.FlowID, e, face)
		if err != nil || replayed {
			return replayed, err
		}
	}
	return false, nil
}

// extrasReferenceReplay compares each usable extra with the reference
// profile; it returns the replay signals of the first copy found.
func extrasReferenceReplay(ref refProfile, samples []extraSample) (bool, []string) {
	for _, s := range samples {
		if !s.usable {
			continue
		}
		if ev, ok := ref.evidence(s.face); ok {
			if copied, signals := ev.copied(); copied {
				return true, signals
			}
		}
	}
	return false, nil
}

// fuseExtras analyses the extras of a selfie whose analysis decided
// decision with subject face, and sets o.liveness to the fused liveness of
// the selfie and the extras. A selfie refused only for its own liveness
// is judged on the fused score (o.selfie becomes OK, and the caller's
// liveness threshold decides). Nothing is done when the selfie has no
// subject with a liveness score and an embedding. It returns the samples,
// or a runtime error in o.runtimeErr.
func (g *Gateway) fuseExtras(ctx context.Context, o *outcome, face inference.Face, hasFace bool, extras [][]byte) []extraSample {
	if len(extras) == 0 || !hasFace || face.Liveness < 0 || len(face.Embedding) == 0 ||
		(o.selfie != inference.DecisionOK && o.selfie != inference.DecisionLivenessFailed) {
		return nil
	}
	samples, err := g.analyzeExtras(ctx, extras)
	if err != nil {
		o.runtimeErr = err
		return nil
	}
	ps := []float64{face.Liveness}
	for _, s := range samples {
		ps = append(ps, s.liveness)
	}
	fused := FuseLiveness(ps...)
	o.liveness = &fused
	o.selfie = inference.DecisionOK
	return samples
}
