// Package inference turns an image into faces: detection, 68-point landmarks,
// passive liveness (presentation-attack detection), quality measures, the
// aligned 112×112 face crop and its embedding (512-d or 192-d, by
// inference.embedder). The model-specific code sits behind the Detector, Liveness, Landmarker and Embedder interfaces; the
// ONNX Runtime backend lives in inference/onnx (the only cgo package), fakes
// for tests in inference/inferencetest.
package inference

import (
	"context"
	"errors"
	"image"
	"time"
)

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrDecode: the bytes are not a decodable JPEG/PNG (corrupt, truncated,
	// unknown format).
	ErrDecode = errors.New("image cannot be decoded")
	// ErrTooLarge: the header declares more pixels (or bytes) than allowed;
	// returned before any pixel is decoded.
	ErrTooLarge = errors.New("image too large")
)

// Decision is the per-image verdict of Analyze, in the wire vocabulary used by
// `faceagent inspect` and the gateway.
type Decision string

const (
	DecisionOK             Decision = "OK"
	DecisionNoFace         Decision = "NO_FACE"
	DecisionMultipleFaces  Decision = "MULTIPLE_FACES"
	DecisionLowQuality     Decision = "LOW_QUALITY"
	DecisionLivenessFailed Decision = "LIVENESS_FAILED"
	DecisionDecodeError    Decision = "DECODE_ERROR"
	DecisionTooLarge       Decision = "TOO_LARGE"
)

// Box is an axis-aligned face box in image pixels (after EXIF orientation).
type Box struct {
	X, Y, W, H float64
}

// Point is a 2-D point in image pixels.
type Point struct {
	X, Y float64
}

// Quality holds capture-quality measures of one face.
type Quality struct {
	// FaceSize is the shorter side of the face box in pixels.
	FaceSize float64 `json:"face_size"`
	// Sharpness is the variance of the Laplacian of the grey face crop
	// (0…~10⁴; below ~30 is visibly blurred).
	Sharpness float64 `json:"sharpness"`
	// Brightness is the mean grey level of the face crop, 0–255.
	Brightness float64 `json:"brightness"`
	// Truncated reports that the face box extends past the image edge.
	Truncated bool `json:"truncated"`
}

// Face is one detected face with everything computed for it.
type Face struct {
	Box       Box     // pixels
	Score     float64 // detector confidence, 0–1
	Landmarks []Point // 68 points (iBUG 300-W order), pixels; nil if not computed
	Liveness  float64 // probability live (bona fide), 0–1; -1 if not computed
	Live      bool    // Liveness ≥ the configured liveness threshold
	Quality   Quality
	Aligned   image.Image // 112×112 ArcFace-aligned crop (RGBA); nil if not computed
	Embedding []float32   // L2-normalised, EmbeddingDim(EmbeddingModel) values; nil if not computed
	// EmbeddingModel is the embedder that computed Embedding (a value of
	// inference.embedder, e.g. EmbedderFRFeature); "" when not computed.
	// Only embeddings of one model are comparable.
	EmbeddingModel string
}

// Analysis is the result of analysing one image.
type Analysis struct {
	Width, Height int    // after EXIF orientation
	Faces         []Face // all faces above the detection threshold, largest first
	Decision      Decision
	// Subject indexes Faces for the face the decision is about; -1 if none.
	Subject int
	// Timings is the wall time spent in each stage of this Analyze call.
	Timings Timings
	// Rotation is the clockwise turn, in degrees (0, 90, 180, 270), applied
	// to the image before the faces were found (Options.Reference only);
	// boxes and landmarks are in pixels of the turned image.
	Rotation int
}

// Timings is the per-stage wall time of one Analyze call; a stage that did
// not run is 0. Agents export them as latency metrics.
type Timings struct {
	Prepare   time.Duration // conversion of the input to RGBA
	Detect    time.Duration // detector pre-processing, inference, NMS
	Landmarks time.Duration // all faces' landmarks and quality measures
	Liveness  time.Duration // liveness of the subject
	Embed     time.Duration // alignment and embedding of the subject
	Total     time.Duration
}

// Options selects the optional stages of Analyze.
type Options struct {
	// Liveness runs the passive-liveness model on the subject face.
	Liveness bool
	// Embed aligns the subject face and computes its embedding.
	Embed bool
	// Reference analyses a partner's reference image (an ID-card scan or a
	// phone photo of a card) rather than a kiosk capture: when no upright
	// face is found the image is also tried turned by 90°, 180° and 270°
	// (pixels rotated without EXIF), and a subject face down to
	// ReferenceMinFaceSize pixels is accepted, up-sampled before alignment.
	// Analysis.Rotation then says how far the image was turned.
	Reference bool
	// LivenessJitter perturbs the subject's face box before liveness is
	// scored. Only evaluation sets it (`facegateway eval --jitter`), to
	// measure how steady the score is under small crop changes; the zero
	// value changes nothing.
	LivenessJitter Jitter
	// Track, when not nil, holds the detector's confirmation verdicts on
	// the previous analysed frame of the same capture round: a detection
	// continuing one of them keeps its verdict without the confirmation
	// pass (see Tracker). Nil confirms every detection.
	Track *Tracker
}

// Jitter is a perturbation of a face box: its sides are multiplied by
// Scale (0 means 1) and its centre moved by DX box widths and DY box
// heights.
type Jitter struct {
	Scale float64 `json:"scale"`
	DX    float64 `json:"dx"`
	DY    float64 `json:"dy"`
}

// Apply returns b perturbed by j.
func (j Jitter) Apply(b Box) Box {
	if j == (Jitter{}) {
		return b
	}
	s := j.Scale
	if s == 0 {
		s = 1
	}
	c := b.Center()
	c.X += j.DX * b.W
	c.Y += j.DY * b.H
	w, h := b.W*s, b.H*s
	return Box{X: c.X - w/2, Y: c.Y - h/2, W: w, H: h}
}

// ReferenceMinFaceSize is the smallest subject face, in pixels (shorter box
// side), accepted on a reference image (Options.Reference); kiosk captures
// keep Config.MinFaceSize. A face printed on an ID card photographed with a
// phone is often 25–40 px; below 24 px the eyes are a few pixels apart and
// the landmarks, hence the alignment, are unreliable.
const ReferenceMinFaceSize = 24

// Analyzer runs the whole per-image pipeline on a decoded, upright image.
// It returns an error only for failures of the runtime itself; "no face",
// "two faces" and the like are reported in Analysis.Decision.
type Analyzer interface {
	Analyze(ctx context.Context, img image.Image, opts Options) (Analysis, error)
}
