package inference

// Config configures the inference pipeline. It appears as the [inference]
// table of both the agent's and the gateway's TOML config.
type Config struct {
	// ModelsDir holds the files placed by `make models`.
	ModelsDir string `toml:"models_dir"`
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
}
