package inference

import (
	"github.com/faceverify/faceverify/internal/conf"
)

// Config configures the inference pipeline. It appears as the [inference]
// table of both the agent's and the gateway's TOML config.
type Config struct {
	// ModelsDir holds the files placed by `make models`.
	ModelsDir string `toml:"models_dir" nonempty:"true"`
	// Engine runs the models: EngineORT ("onnxruntime") or EngineGo ("go");
	// DefaultEngine (ONNX Runtime with cgo, Go without) when empty.
	Engine string `toml:"engine" oneof:"onnxruntime|go|" rule:"must be \"onnxruntime\" or \"go\""`
	// ORTLibrary is the ONNX Runtime shared library; "" picks the pinned
	// build for this platform under ModelsDir (models.ORTLibrary).
	ORTLibrary string `toml:"ort_library"`
	// IntraOpThreads is ONNX Runtime's intra-op thread count per session;
	// 0 lets the runtime choose.
	IntraOpThreads int `toml:"intra_op_threads" min:"0" unit:"(0 = runtime default)"`
	// MaxPixels refuses images whose header declares more pixels (w×h)
	// before decoding (ErrTooLarge).
	MaxPixels int `toml:"max_pixels" gt:"0"`
	// DetectionThreshold is the minimum detector face score, 0–1.
	DetectionThreshold float64 `toml:"detection_threshold" min:"0" max:"1"`
	// LivenessThreshold is the minimum probability live, 0–1.
	LivenessThreshold float64 `toml:"liveness_threshold" min:"0" max:"1"`
	// Embedder computes the face embeddings the gateway compares:
	// EmbedderFRFeature ("fr_feature", 512-d, the default) or
	// EmbedderMobileFaceNet ("mobilefacenet", 192-d, always on the Go
	// engine); DefaultEmbedder when empty. It also picks the default
	// MatchThreshold (DefaultMatchThreshold).
	Embedder string `toml:"embedder" oneof:"fr_feature|mobilefacenet|" rule:"must be \"fr_feature\" or \"mobilefacenet\""`
	// MatchThreshold is the minimum cosine similarity for a match, −1…1;
	// when the file does not set it, DefaultMatchThreshold(Embedder)
	// (ApplyEmbedderDefaults).
	MatchThreshold float64 `toml:"match_threshold" min:"-1" max:"1"`
	// MinFaceSize is the minimum shorter side of a face box in pixels.
	MinFaceSize float64 `toml:"min_face_size" min:"0" unit:"pixels"`
	// LivenessCrops is how many crops of each analysed face the liveness
	// model scores; their logits are averaged before the softmax: 1 (the
	// manifest's crop_scale only), 3 (crop_scale × 0.96, 1, 1.04) or 5 (those
	// and two crops shifted by ±5 % of the crop side sideways).
	LivenessCrops int `toml:"liveness_crops"`

	// Less commonly changed knobs; defaults from DefaultConfig.
	// NMSIoU is the intersection-over-union above which a lower-scoring
	// detection is suppressed as a duplicate of a higher-scoring one, 0–1.
	NMSIoU float64 `toml:"nms_iou" min:"0" max:"1"`
	// MultiFaceRatio: a second face counts as a competing subject (decision
	// MULTIPLE_FACES) when its box's shorter side is at least this fraction of
	// the largest face's, 0–1. Smaller bystanders are reported in
	// Analysis.Faces but do not change the decision.
	MultiFaceRatio float64 `toml:"multi_face_ratio" min:"0" max:"1"`
	// MinSharpness is the minimum Laplacian variance of the subject's grey
	// face crop (Quality.Sharpness); below it the decision is LOW_QUALITY.
	MinSharpness float64 `toml:"min_sharpness" min:"0"`
	// MinBrightness and MaxBrightness bound the mean grey level of the
	// subject's face crop, 0–255 (Quality.Brightness).
	MinBrightness float64 `toml:"min_brightness" min:"0" max:"255"`
	MaxBrightness float64 `toml:"max_brightness" min:"0" max:"255"`
	// MaxBytes refuses encoded images longer than this many bytes
	// (ErrTooLarge) before decoding.
	MaxBytes int64 `toml:"max_bytes" gt:"0"`
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
//   - MatchThreshold 0.35 (fr_feature): on pairs.csv same-person cosines
//     are ≥ 0.52 and different-person ≤ 0.17; 0.35 is the middle of that
//     gap. Other embedders have their own (DefaultMatchThreshold).
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
		Embedder:           DefaultEmbedder,
		ORTLibrary:         "",
		IntraOpThreads:     0,
		MaxPixels:          40_000_000,
		DetectionThreshold: 0.7,
		LivenessThreshold:  0.6,
		MatchThreshold:     DefaultMatchThreshold(DefaultEmbedder),
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
// e.g. "inference.liveness_threshold: must be in [0,1], got 1.5": the
// limits declared on the fields (conf.Check), then max_brightness ≥
// min_brightness.
func (c Config) Validate() error {
	if err := conf.Check(c, "inference"); err != nil {
		return err
	}
	if c.LivenessCrops != 1 && c.LivenessCrops != 3 && c.LivenessCrops != 5 {
		return conf.Errorf("inference.liveness_crops", "must be 1, 3 or 5, got %d", c.LivenessCrops)
	}
	if c.MaxBrightness < c.MinBrightness {
		return conf.Errorf("inference.max_brightness", "must be in [min_brightness,255], got %v", c.MaxBrightness)
	}
	return nil
}
