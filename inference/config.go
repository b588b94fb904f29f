package inference

import (
	"fmt"
	"math"
)

// Config configures the inference pipeline. It appears as the [inference]
// table of both the agent's and the gateway's TOML config.
type Config struct {
	// ModelsDir holds the files placed by `make models`.
	ModelsDir string `toml:"models_dir"`
	// Engine runs the models: EngineORT ("onnxruntime") or EngineGo ("go");
	// DefaultEngine (ONNX Runtime with cgo, Go without) when empty.
	Engine string `toml:"engine"`
	// ORTLibrary is the ONNX Runtime shared library; "" picks the pinned
	// build for this platform under ModelsDir (models.ORTLibrary).
	ORTLibrary string `toml:"ort_library"`
	// IntraOpThreads is ONNX Runtime's intra-op thread count per session;
	// 0 lets the runtime choose.
	IntraOpThreads int `toml:"intra_op_threads"`
	// MaxPixels refuses images whose header declares more pixels (w×h)
	// before decoding (ErrTooLarge).
	MaxPixels int `toml:"max_pixels"`
	// DetectionThreshold is the minimum detector face score, 0–1.
	DetectionThreshold float64 `toml:"detection_threshold"`
	// LivenessThreshold is the minimum probability live, 0–1.
	LivenessThreshold float64 `toml:"liveness_threshold"`
	// MatchThreshold is the minimum cosine similarity for a match, −1…1.
	MatchThreshold float64 `toml:"match_threshold"`
	// MinFaceSize is the minimum shorter side of a face box in pixels.
	MinFaceSize float64 `toml:"min_face_size"`
	// LivenessCrops is how many crops of each analysed face the liveness
	// model scores; their logits are averaged before the softmax: 1 (the
	// manifest's crop_scale only), 3 (crop_scale × 0.96, 1, 1.04) or 5 (those
	// and two crops shifted by ±5 % of the crop side sideways).
	LivenessCrops int `toml:"liveness_crops"`

	// Less commonly changed knobs; defaults from DefaultConfig.
	// NMSIoU is the intersection-over-union above which a lower-scoring
	// detection is suppressed as a duplicate of a higher-scoring one, 0–1.
	NMSIoU float64 `toml:"nms_iou"`
	// MultiFaceRatio: a second face counts as a competing subject (decision
	// MULTIPLE_FACES) when its box's shorter side is at least this fraction of
	// the largest face's, 0–1. Smaller bystanders are reported in
	// Analysis.Faces but do not change the decision.
	MultiFaceRatio float64 `toml:"multi_face_ratio"`
	// MinSharpness is the minimum Laplacian variance of the subject's grey
	// face crop (Quality.Sharpness); below it the decision is LOW_QUALITY.
	MinSharpness float64 `toml:"min_sharpness"`
	// MinBrightness and MaxBrightness bound the mean grey level of the
	// subject's face crop, 0–255 (Quality.Brightness).
	MinBrightness float64 `toml:"min_brightness"`
	MaxBrightness float64 `toml:"max_brightness"`
	// MaxBytes refuses encoded images longer than this many bytes
	// (ErrTooLarge) before decoding.
	MaxBytes int64 `toml:"max_bytes"`
}

// DefaultConfig returns the configuration used when a field is absent from
// the TOML file. The thresholds were measured on ../shared/testdata with the
// pinned models (see inference/onnx/README.md for the numbers):
//
//   - DetectionThreshold 0.7: every labelled face scores ≥ 0.84 at the
//     whole-frame pass and ≥ 0.99 at the zoomed confirmation; the cat
//     close-up reaches 0.97 at the first pass but 0 at the confirmation.
//   - LivenessThreshold 0.6: genuine captures scored ≥ 0.81, real print and
//     screen attacks ≤ 0.39 (B,G,R order, 1.25× crop); 0.6 is the middle.
//   - MatchThreshold 0.35: on pairs.csv same-person cosines are ≥ 0.52 and
//     different-person ≤ 0.16; 0.35 is the middle of that gap.
//   - MinFaceSize 40 px: below it the 112×112 aligned crop is mostly
//     up-sampled blur (the far subject of hard/small_face_far.jpg is 36 px).
//   - LivenessCrops 3: one crop's probability moves with small changes of
//     the face box (a genuine capture 0.92, 0.47, 0.88 at 1.3×, 1.5×,
//     1.7×); the mean logit of three scales is steadier (README, liveness
//     fusion, measured with `facegateway eval --jitter`).
func DefaultConfig() Config {
	return Config{
		ModelsDir:          "models",
		Engine:             DefaultEngine,
		ORTLibrary:         "",
		IntraOpThreads:     0,
		MaxPixels:          40_000_000,
		DetectionThreshold: 0.7,
		LivenessThreshold:  0.6,
		MatchThreshold:     0.35,
		MinFaceSize:        40,
		LivenessCrops:      3,
		NMSIoU:             0.4,
		MultiFaceRatio:     0.5,
		MinSharpness:       10,
		MinBrightness:      40,
		MaxBrightness:      225,
		MaxBytes:           32 << 20,
	}
}

// Validate reports the first invalid field, named by its dotted TOML path,
// e.g. "inference.liveness_threshold: must be in [0,1], got 1.5".
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("inference.%s: %s", field, fmt.Sprintf(format, args...))
	}
	in01 := func(field string, v float64) error {
		if math.IsNaN(v) || v < 0 || v > 1 {
			return bad(field, "must be in [0,1], got %v", v)
		}
		return nil
	}
	switch {
	case c.ModelsDir == "":
		return bad("models_dir", "must not be empty")
	case c.Engine != "" && c.Engine != EngineORT && c.Engine != EngineGo:
		return bad("engine", "must be %q or %q, got %q", EngineORT, EngineGo, c.Engine)
	case c.IntraOpThreads < 0:
		return bad("intra_op_threads", "must be ≥ 0 (0 = runtime default), got %d", c.IntraOpThreads)
	case c.MaxPixels <= 0:
		return bad("max_pixels", "must be > 0, got %d", c.MaxPixels)
	case c.MaxBytes <= 0:
		return bad("max_bytes", "must be > 0, got %d", c.MaxBytes)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"detection_threshold", c.DetectionThreshold},
		{"liveness_threshold", c.LivenessThreshold},
		{"nms_iou", c.NMSIoU},
		{"multi_face_ratio", c.MultiFaceRatio},
	} {
		if err := in01(f.name, f.v); err != nil {
			return err
		}
	}
	if math.IsNaN(c.MatchThreshold) || c.MatchThreshold < -1 || c.MatchThreshold > 1 {
		return bad("match_threshold", "must be in [-1,1], got %v", c.MatchThreshold)
	}
	if c.LivenessCrops != 1 && c.LivenessCrops != 3 && c.LivenessCrops != 5 {
		return bad("liveness_crops", "must be 1, 3 or 5, got %d", c.LivenessCrops)
	}
	if math.IsNaN(c.MinFaceSize) || c.MinFaceSize < 0 {
		return bad("min_face_size", "must be ≥ 0 pixels, got %v", c.MinFaceSize)
	}
	if math.IsNaN(c.MinSharpness) || c.MinSharpness < 0 {
		return bad("min_sharpness", "must be ≥ 0, got %v", c.MinSharpness)
	}
	if math.IsNaN(c.MinBrightness) || c.MinBrightness < 0 || c.MinBrightness > 255 {
		return bad("min_brightness", "must be in [0,255], got %v", c.MinBrightness)
	}
	if math.IsNaN(c.MaxBrightness) || c.MaxBrightness < c.MinBrightness || c.MaxBrightness > 255 {
		return bad("max_brightness", "must be in [min_brightness,255], got %v", c.MaxBrightness)
	}
	return nil
}
