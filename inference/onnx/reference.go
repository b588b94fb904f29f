package onnx

import (
	"context"
	"fmt"
	"image"
	"math"
	"sort"
	"time"

	"golang.org/x/image/draw"

	"github.com/faceverify/faceverify/inference"
)

// Reference images (inference.Options.Reference) are ID-card scans and
// phone photos of cards: the face may be turned by a multiple of 90° with
// no EXIF to say so, and it is often small in a large frame.
//
// uprightStrength is the detector evidence, logit(whole-frame score) +
// logit(zoomed confirmation score), above which the unturned image is
// taken as upright without trying the other turns. Measured on generated
// cards (inference/onnx/reference_test.go) at 240–640 px: an upright face
// scores 22–23, the same face upside down 8–10.5, turned by 90° ≤ 5.
const uprightStrength = 18

// referenceUpsample is the side, in pixels, a reference face smaller than
// it is scaled up to (Catmull-Rom) before landmarks and alignment, so that
// the 112×112 aligned crop is sampled from a smooth image rather than
// bilinearly from a few dozen pixels.
const referenceUpsample = 112

// turns are the clockwise turns tried, in order, and the EXIF orientation
// that applies each (inference.Orient).
var turns = []struct {
	degrees int
	orient  inference.Orientation
}{{0, 1}, {90, 6}, {270, 8}, {180, 3}}

// refDetection is a confirmed detection with its evidence.
type refDetection struct {
	Detection
	confirm float64
}

func (d refDetection) strength() float64 {
	return logit(d.Score) + logit(d.confirm)
}

func logit(p float64) float64 {
	p = math.Min(math.Max(p, 1e-7), 1-1e-7)
	return math.Log(p / (1 - p))
}

// analyzeReference is Analyze for a reference image: it finds the faces at
// the turn (0°, 90°, 270°, 180°) where the largest face has the strongest
// detector evidence (stopping at 0° when that is already uprightStrength),
// looking at overlapping half-size tiles as well when the whole frame shows
// none, then decides as Analyze does except that a subject down to
// inference.ReferenceMinFaceSize pixels passes the size gate, and embeds
// the subject from an up-sampled crop when it is smaller than
// referenceUpsample pixels.
func (e *Engine) analyzeReference(ctx context.Context, img image.Image, opts inference.Options) (inference.Analysis, error) {
	t0 := time.Now()
	an := inference.Analysis{Subject: -1}
	if img == nil || img.Bounds().Empty() {
		return an, fmt.Errorf("analyze: %w: empty image", inference.ErrDecode)
	}
	img, err := inference.Pixels(img)
	if err != nil {
		return an, fmt.Errorf("analyze: %w", err)
	}
	src := inference.ToOpaqueRGBA(img, nil)
	an.Width, an.Height = src.Rect.Dx(), src.Rect.Dy()
	var (
		best     []refDetection
		bestImg  *image.RGBA
		bestTurn int
		bestStr  = math.Inf(-1)
	)
	for _, tn := range turns {
		if err := ctx.Err(); err != nil {
			return an, err
		}
		turned := src
		if tn.degrees != 0 {
			turned = inference.Orient(src, tn.orient)
		}
		dets, err := e.referenceFaces(turned)
		if err != nil {
			return an, err
		}
		if len(dets) == 0 {
			continue
		}
		if s := dets[0].strength(); s > bestStr {
			best, bestImg, bestTurn, bestStr = dets, turned, tn.degrees, s
		}
		if tn.degrees == 0 && bestStr >= uprightStrength {
			break
		}
	}
	t1 := time.Now()
	an.Timings.Detect = t1.Sub(t0)
	if bestImg == nil {
		an.Decision = inference.DecisionNoFace
		an.Timings.Total = time.Since(t0)
		e.logResult(an)
		return an, nil
	}
	rgba := bestImg
	an.Width, an.Height, an.Rotation = rgba.Rect.Dx(), rgba.Rect.Dy(), bestTurn
	an.Faces = make([]inference.Face, len(best))
	for i, d := range best {
		f := &an.Faces[i]
		f.Box, f.Score, f.Liveness = clip(d.Box, an.Width, an.Height), d.Score, -1
		lm, err := e.Landmarker.Landmarks(rgba, d.Box, nil)
		if err != nil {
			return an, err
		}
		f.Landmarks, f.Quality = lm, e.quality(rgba, d.Box, lm)
	}
	t2 := time.Now()
	an.Timings.Landmarks = t2.Sub(t1)
	an.Subject = 0
	subj := &an.Faces[0]
	an.Decision = e.decide(an.Faces)
	if an.Decision == inference.DecisionLowQuality && e.smallButUsable(subj.Quality) {
		an.Decision = inference.DecisionOK
	}
	if opts.Liveness {
		p, err := e.Liveness.Score(rgba, opts.LivenessJitter.Apply(best[0].Box))
		if err != nil {
			return an, err
		}
		subj.Liveness, subj.Live = p, p >= e.cfg.LivenessThreshold
		if an.Decision == inference.DecisionOK && !subj.Live {
			an.Decision = inference.DecisionLivenessFailed
		}
	}
	t3 := time.Now()
	an.Timings.Liveness = t3.Sub(t2)
	if opts.Embed {
		aligned, emb, err := e.embedReference(rgba, best[0].Box, subj.Landmarks)
		if err != nil {
			return an, err
		}
		subj.Aligned, subj.Embedding, subj.EmbeddingModel = aligned, emb, e.embedder
	}
	an.Timings.Embed = time.Since(t3)
	an.Timings.Total = time.Since(t0)
	e.logResult(an)
	return an, nil
}

// smallButUsable reports whether q fails the kiosk's quality gates only by
// a face smaller than inference.min_face_size yet at least
// inference.ReferenceMinFaceSize.
func (e *Engine) smallButUsable(q inference.Quality) bool {
	return q.FaceSize >= inference.ReferenceMinFaceSize && !q.Truncated && q.Sharpness >= e.cfg.MinSharpness &&
		q.Brightness >= e.cfg.MinBrightness && q.Brightness <= e.cfg.MaxBrightness
}

// referenceFaces returns the confirmed faces of img, largest first: those of
// the whole frame or, when it shows none, those of 3×3 overlapping tiles of
// half the width and height (each seen at twice the detector's scale), with
// duplicates across tiles removed by NMS.
func (e *Engine) referenceFaces(img *image.RGBA) ([]refDetection, error) {
	thr, iou := e.cfg.DetectionThreshold, e.cfg.NMSIoU
	dets, err := e.Detector.Detect(img, thr, iou)
	if err != nil {
		return nil, err
	}
	if len(dets) == 0 {
		w, h := img.Rect.Dx(), img.Rect.Dy()
		tw, th := w/2, h/2
		if tw >= 64 && th >= 64 {
			tile := image.NewRGBA(image.Rect(0, 0, tw, th))
			var boxes []inference.Box
			var scores []float64
			for ty := 0; ty <= 2; ty++ {
				for tx := 0; tx <= 2; tx++ {
					x0, y0 := img.Rect.Min.X+tx*(w-tw)/2, img.Rect.Min.Y+ty*(h-th)/2
					draw.Draw(tile, tile.Rect, img, image.Pt(x0, y0), draw.Src)
					td, err := e.Detector.Detect(tile, thr, iou)
					if err != nil {
						return nil, err
					}
					for _, d := range td {
						b := d.Box
						b.X += float64(x0 - img.Rect.Min.X)
						b.Y += float64(y0 - img.Rect.Min.Y)
						boxes, scores = append(boxes, b), append(scores, d.Score)
					}
				}
			}
			keep, _ := inference.NMS(boxes, scores, iou, nil, nil)
			for _, k := range keep {
				dets = append(dets, Detection{Box: boxes[k], Score: scores[k]})
			}
		}
	}
	var out []refDetection
	for _, d := range dets {
		c, err := e.Detector.Confirm(img, d.Box, thr, iou)
		if err != nil {
			return nil, err
		}
		if c >= thr {
			out = append(out, refDetection{Detection: d, confirm: c})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Box.Area() > out[j].Box.Area() })
	return out, nil
}

// embedReference aligns and embeds the face in box of img. A face smaller
// than referenceUpsample pixels is first scaled up (Catmull-Rom, a square
// of twice the box side about its centre) and its landmarks found again on
// the scaled crop; lm are the landmarks on img, used otherwise.
func (e *Engine) embedReference(img *image.RGBA, box inference.Box, lm []inference.Point) (*image.RGBA, []float32, error) {
	aligned := image.NewRGBA(image.Rect(0, 0, inference.ArcFaceSize, inference.ArcFaceSize))
	src := img
	if size := math.Max(box.W, box.H); size > 0 && size < referenceUpsample {
		k := referenceUpsample / size
		sq := squareAround(box, 2, img.Rect.Dx(), img.Rect.Dy(), false)
		r := image.Rect(int(math.Floor(sq.X)), int(math.Floor(sq.Y)), int(math.Ceil(sq.X+sq.W)), int(math.Ceil(sq.Y+sq.H))).
			Add(img.Rect.Min).Intersect(img.Rect)
		if !r.Empty() {
			up := image.NewRGBA(image.Rect(0, 0, int(math.Round(float64(r.Dx())*k)), int(math.Round(float64(r.Dy())*k))))
			draw.CatmullRom.Scale(up, up.Rect, img, r, draw.Src, nil)
			kx, ky := float64(up.Rect.Dx())/float64(r.Dx()), float64(up.Rect.Dy())/float64(r.Dy())
			ub := inference.Box{X: (box.X - float64(r.Min.X-img.Rect.Min.X)) * kx, Y: (box.Y - float64(r.Min.Y-img.Rect.Min.Y)) * ky,
				W: box.W * kx, H: box.H * ky}
			ulm, err := e.Landmarker.Landmarks(up, ub, nil)
			if err != nil {
				return nil, nil, err
			}
			src, lm = up, ulm
		}
	}
	if _, err := inference.AlignFace(aligned, src, lm); err != nil {
		return nil, nil, fmt.Errorf("analyze: %w", err)
	}
	emb, _, err := e.embed(aligned)
	if err != nil {
		return nil, nil, err
	}
	return aligned, emb, nil
}
