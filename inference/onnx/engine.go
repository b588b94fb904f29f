// Package onnx runs the faceverify ONNX models and implements
// inference.Analyzer. Config.Engine picks the runtime: ONNX Runtime (through
// github.com/yalue/onnxruntime_go, cgo; ort.go, built only with cgo) or the
// pure-Go engine (inference/goengine; gosession.go). Pre-processing, NMS
// and decisions are the same code for both.
//
// Models (models/manifest.json pins each file by sha256 and records its
// pre-processing settings):
//
//   - Detector: Ultra-Light-Fast-Generic-Face-Detector-1MB, RFB-320.
//   - Landmarker: 68-point landmarks.
//   - Liveness: MiniFASNet-style passive liveness (Silent-Face-Anti-Spoofing).
//   - Embedder: ArcFace-style 512-d embedding on the 112×112 aligned face.
//
// Concurrency: an Engine is safe for concurrent use. Each model owns one
// session whose input and output tensors are allocated once and reused; a
// mutex per model serialises its runs, so concurrent Analyze calls pipeline
// across the four models but never share a tensor. For more throughput than
// one run per model at a time, create several Engines (each costs ~10 MB of
// weights plus ONNX Runtime's arenas).
package onnx

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/models"
)

// qualitySide is the side of the grey face crop on which Quality.Sharpness
// and Quality.Brightness are measured, so that they do not depend on the
// image resolution.
const qualitySide = 64

// A face counts as cut by the frame (Quality.Truncated) when a landmark lies
// outside the image by more than landmarkMargin × the box width, or the
// detector box extends past an edge by more than boxMargin × its size in
// that direction. Measured on ../shared/testdata: the face cut by the left
// edge (hard/partial_face_cut_off.jpg) has landmarks 0.40 box widths
// outside; every whole face 0.
const (
	landmarkMargin = 0.05
	boxMargin      = 0.25
)

// Engine holds the four model sessions and implements inference.Analyzer.
type Engine struct {
	cfg        inference.Config
	log        *slog.Logger
	Detector   *Detector
	Liveness   *Liveness
	Landmarker *Landmarker
	Embedder   *Embedder

	scratch sync.Pool // *[]float32 of qualitySide² grey values
}

var _ inference.Analyzer = (*Engine)(nil)

// ErrNoRuntime means no ONNX Runtime library is pinned for this platform
// (e.g. linux/arm: the pinned onnxruntime-node package has no 32-bit ARM
// build) and inference.ort_library is empty.
var ErrNoRuntime = errors.New("no ONNX Runtime library for this platform")

// New validates cfg, initialises ONNX Runtime (once per process; the library
// is cfg.ORTLibrary or models.ORTLibrary() under cfg.ModelsDir, checked
// against its pinned sha256 in the latter case), verifies every model file
// against models/manifest.json and creates one session per model with
// cfg.IntraOpThreads intra-op threads.
//
// Errors: a *models.MissingError (errors.Is models.ErrMissing) naming the
// absolute path searched, how a relative inference.models_dir resolved and
// the fix (run `make models`); or an error wrapping models.ErrChecksum
// (wrong file). A nil logger discards logs.
func New(cfg inference.Config, logger *slog.Logger) (*Engine, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	man, err := models.Load()
	if err != nil {
		return nil, err
	}
	var mk sessionMaker
	if cfg.Engine == "" {
		cfg.Engine = inference.DefaultEngine
	}
	info := []any{"engine", cfg.Engine}
	switch cfg.Engine {
	case inference.EngineGo:
		mk = newGoSession
	default:
		m, release, attrs, err := ortSessions(cfg, man)
		if err != nil {
			return nil, err
		}
		defer release()
		mk, info = m, attrs
	}

	e := &Engine{cfg: cfg, log: logger}
	e.scratch.New = func() any { s := make([]float32, qualitySide*qualitySide); return &s }
	sessions := make([]*session, len(specs))
	layouts := make([]inference.TensorLayout, len(specs))
	settings := make([]models.Settings, len(specs))
	for i, sp := range specs {
		st, err := man.SettingsFor(sp.file)
		if err != nil {
			e.destroy(sessions)
			return nil, err
		}
		l, err := layoutOf(sp.file, st, sp.w, sp.h, sp.ch)
		if err != nil {
			e.destroy(sessions)
			return nil, err
		}
		data, err := readVerified(man, cfg.ModelsDir, sp.file)
		if err != nil {
			e.destroy(sessions)
			return nil, err
		}
		s, err := mk(sp.file, data, st, l.Shape(), sp.outShapes)
		if err != nil {
			e.destroy(sessions)
			return nil, err
		}
		if gb, ok := s.be.(*goBackend); ok {
			logger.Info("model compiled", "model", sp.file, "ops", gb.m.Ops(), "arena_bytes", gb.m.ArenaBytes())
		}
		sessions[i], layouts[i], settings[i] = s, l, st
	}
	e.Detector = &Detector{sess: sessions[0], layout: layouts[0]}
	e.Liveness = &Liveness{sess: sessions[1], layout: layouts[1], cropScale: settings[1].CropScale,
		crops: livenessCrops(cfg.LivenessCrops)}
	e.Landmarker = &Landmarker{sess: sessions[2], layout: layouts[2], cropScale: settings[2].CropScale}
	e.Embedder = &Embedder{sess: sessions[3], layout: layouts[3]}
	if e.Liveness.cropScale <= 0 || e.Landmarker.cropScale <= 0 {
		e.destroy(sessions)
		return nil, errors.New("models manifest: liveness and landmark crop_scale must be > 0")
	}
	logger.Info("inference engine ready", append(info, "models_dir", cfg.ModelsDir,
		"liveness_order", layouts[1].Order, "liveness_crop_scale", settings[1].CropScale,
		"embed_order", layouts[3].Order)...)
	return e, nil
}

func (e *Engine) destroy(ss []*session) {
	for _, s := range ss {
		if s != nil {
			s.destroy()
		}
	}
}

// Close releases the sessions and tensors. The ONNX Runtime environment
// stays initialised for later Engines. Calls after Close return errors.
func (e *Engine) Close() error {
	for _, s := range []*session{e.Detector.sess, e.Liveness.sess, e.Landmarker.sess, e.Embedder.sess} {
		s.destroy()
	}
	return nil
}

// Config returns the configuration the engine was created with.
func (e *Engine) Config() inference.Config { return e.cfg }

// Analyze implements inference.Analyzer on an upright image (any
// image.Image; an opaque *image.RGBA at the origin, as inference.Decode
// returns, is used without copying; an inference.Undecoded frame is
// decoded here, its decoding time counted in Timings.Prepare, and a
// frame that fails to decode returns an error wrapping
// inference.ErrDecode).
//
// Steps: detect faces (cfg.DetectionThreshold, NMS at cfg.NMSIoU), keep
// those the detector confirms on a zoomed crop (Detector.Confirm, same
// threshold; with opts.Track, a detection continuing one of the previous
// frame of the round keeps its verdict without a new pass), sort them largest first, compute landmarks and quality for every face, then decide
// for the subject, the largest face:
//
//   - NO_FACE: no detection.
//   - MULTIPLE_FACES: another face's shorter side is ≥ cfg.MultiFaceRatio ×
//     the subject's (0.5 by default: two people at similar distance from the
//     camera). Smaller faces are bystanders and are only reported.
//   - LOW_QUALITY: subject smaller than cfg.MinFaceSize, cut by the frame,
//     sharpness below cfg.MinSharpness or brightness outside
//     [cfg.MinBrightness, cfg.MaxBrightness].
//   - LIVENESS_FAILED: with opts.Liveness, probability live below
//     cfg.LivenessThreshold.
//   - OK otherwise.
//
// Liveness (opts.Liveness) and the aligned crop and embedding (opts.Embed)
// are computed for the subject whenever there is one, also when the
// decision is not OK, so tools can show them. With opts.Reference the image
// is a partner's reference (turned, small faces; see analyzeReference). The
// error is non-nil only when the runtime fails or ctx is done.
func (e *Engine) Analyze(ctx context.Context, img image.Image, opts inference.Options) (inference.Analysis, error) {
	t0 := time.Now()
	an := inference.Analysis{Subject: -1}
	if err := ctx.Err(); err != nil {
		return an, err
	}
	if opts.Reference {
		return e.analyzeReference(ctx, img, opts) // reference.go
	}
	if img == nil || img.Bounds().Empty() {
		return an, fmt.Errorf("analyze: %w: empty image", inference.ErrDecode)
	}
	img, err := inference.Pixels(img)
	if err != nil {
		return an, fmt.Errorf("analyze: %w", err)
	}
	rgba := inference.ToOpaqueRGBA(img, nil)
	an.Width, an.Height = rgba.Rect.Dx(), rgba.Rect.Dy()
	t1 := time.Now()
	an.Timings.Prepare = t1.Sub(t0)

	dets, err := e.Detector.Detect(rgba, e.cfg.DetectionThreshold, e.cfg.NMSIoU)
	if err != nil {
		return an, err
	}
	var keptBuf, refusedBuf [4]inference.Box
	kept, refused := keptBuf[:0], refusedBuf[:0]
	confirmed := dets[:0]
	for _, d := range dets {
		ok, known := false, false
		if opts.Track != nil {
			ok, known = opts.Track.Lookup(d.Box)
		}
		if !known {
			c, err := e.Detector.Confirm(rgba, d.Box, e.cfg.DetectionThreshold, e.cfg.NMSIoU)
			if err != nil {
				return an, err
			}
			ok = c >= e.cfg.DetectionThreshold
		}
		if ok {
			confirmed = append(confirmed, d)
			kept = append(kept, d.Box)
		} else {
			refused = append(refused, d.Box)
		}
	}
	dets = confirmed
	if opts.Track != nil {
		opts.Track.Update(kept, refused)
	}
	slices.SortStableFunc(dets, func(a, b Detection) int { return cmp.Compare(b.Box.Area(), a.Box.Area()) })
	t2 := time.Now()
	an.Timings.Detect = t2.Sub(t1)

	an.Faces = make([]inference.Face, len(dets))
	for i, d := range dets {
		if err := ctx.Err(); err != nil {
			return an, err
		}
		f := &an.Faces[i]
		f.Box, f.Score, f.Liveness = clip(d.Box, an.Width, an.Height), d.Score, -1
		f.Landmarks, err = e.Landmarker.Landmarks(rgba, d.Box, nil)
		if err != nil {
			return an, err
		}
		f.Quality = e.quality(rgba, d.Box, f.Landmarks)
	}
	t3 := time.Now()
	an.Timings.Landmarks = t3.Sub(t2)

	if len(an.Faces) == 0 {
		an.Decision = inference.DecisionNoFace
		an.Timings.Total = time.Since(t0)
		e.logResult(an)
		return an, nil
	}
	an.Subject = 0
	subj := &an.Faces[0]
	an.Decision = e.decide(an.Faces)

	if opts.Liveness {
		p, err := e.Liveness.Score(rgba, opts.LivenessJitter.Apply(dets[0].Box))
		if err != nil {
			return an, err
		}
		subj.Liveness, subj.Live = p, p >= e.cfg.LivenessThreshold
		if an.Decision == inference.DecisionOK && !subj.Live {
			an.Decision = inference.DecisionLivenessFailed
		}
	}
	t4 := time.Now()
	an.Timings.Liveness = t4.Sub(t3)

	if opts.Embed {
		aligned := image.NewRGBA(image.Rect(0, 0, inference.ArcFaceSize, inference.ArcFaceSize))
		if _, err := inference.AlignFace(aligned, rgba, subj.Landmarks); err != nil {
			return an, fmt.Errorf("analyze: %w", err)
		}
		emb, err := e.Embedder.Embed(aligned, nil)
		if err != nil {
			return an, err
		}
		subj.Aligned, subj.Embedding = aligned, emb
	}
	an.Timings.Embed = time.Since(t4)
	an.Timings.Total = time.Since(t0)
	e.logResult(an)
	return an, nil
}

// decide applies the face-count and quality rules to faces sorted largest
// first (len ≥ 1).
func (e *Engine) decide(faces []inference.Face) inference.Decision {
	s := faces[0]
	for _, f := range faces[1:] {
		if f.Box.Size() >= e.cfg.MultiFaceRatio*s.Box.Size() {
			return inference.DecisionMultipleFaces
		}
	}
	q := s.Quality
	if q.FaceSize < e.cfg.MinFaceSize || q.Truncated || q.Sharpness < e.cfg.MinSharpness ||
		q.Brightness < e.cfg.MinBrightness || q.Brightness > e.cfg.MaxBrightness {
		return inference.DecisionLowQuality
	}
	return inference.DecisionOK
}

// quality measures the face with the unclipped detector box raw and
// landmarks lm; sharpness and brightness on a qualitySide² grey crop.
func (e *Engine) quality(img *image.RGBA, raw inference.Box, lm []inference.Point) inference.Quality {
	w, h := float64(img.Rect.Dx()), float64(img.Rect.Dy())
	c := clip(raw, img.Rect.Dx(), img.Rect.Dy())
	q := inference.Quality{
		FaceSize: c.Size(),
		Truncated: raw.X < -boxMargin*raw.W || raw.Y < -boxMargin*raw.H ||
			raw.X+raw.W > w+boxMargin*raw.W || raw.Y+raw.H > h+boxMargin*raw.H,
	}
	m := landmarkMargin * raw.W
	for _, p := range lm {
		if p.X < -m || p.Y < -m || p.X > w+m || p.Y > h+m {
			q.Truncated = true
		}
	}
	if c.W < 1 || c.H < 1 {
		return q
	}
	bp := e.scratch.Get().(*[]float32)
	defer e.scratch.Put(bp)
	g := *bp
	l := inference.TensorLayout{Width: qualitySide, Height: qualitySide, Order: inference.Gray, Mean: 0, Scale: 1}
	if err := inference.ResizeInto(g, img, c, l); err != nil {
		return q
	}
	q.Sharpness = inference.LaplacianVariance(g, qualitySide, qualitySide)
	q.Brightness = inference.MeanLevel(g)
	return q
}

// clip intersects b with the w×h image.
func clip(b inference.Box, w, h int) inference.Box {
	x0, y0 := max(b.X, 0), max(b.Y, 0)
	x1, y1 := min(b.X+b.W, float64(w)), min(b.Y+b.H, float64(h))
	if x1 < x0 {
		x1 = x0
	}
	if y1 < y0 {
		y1 = y0
	}
	return inference.Box{X: x0, Y: y0, W: x1 - x0, H: y1 - y0}
}

func (e *Engine) logResult(an inference.Analysis) {
	if !e.log.Enabled(context.Background(), slog.LevelDebug) {
		return // the attributes below would be built (and allocated) for nothing
	}
	e.log.Debug("analyzed image", "width", an.Width, "height", an.Height, "faces", len(an.Faces),
		"decision", an.Decision, "detect", an.Timings.Detect, "landmarks", an.Timings.Landmarks,
		"liveness", an.Timings.Liveness, "embed", an.Timings.Embed, "total", an.Timings.Total)
}
