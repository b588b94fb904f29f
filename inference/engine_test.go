package inference

import (
	"math"
	"strings"
	"testing"
)

func TestConfigEngine(t *testing.T) {
	for _, tc := range []struct {
		engine, err string
	}{
		{"", ""},
		{EngineORT, ""},
		{EngineGo, ""},
		{"tflite", `inference.engine: must be "onnxruntime" or "go", got "tflite"`},
	} {
		c := DefaultConfig()
		c.Engine = tc.engine
		err := c.Validate()
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("engine %q: err %v, want %q", tc.engine, err, tc.err)
		}
	}
	if DefaultConfig().Engine != DefaultEngine {
		t.Errorf("default engine %q, want %q", DefaultConfig().Engine, DefaultEngine)
	}
}

func TestConfigEmbedder(t *testing.T) {
	for _, tc := range []struct {
		name      string
		embedder  string
		explicit  float64 // match_threshold set in the file; NaN when absent
		threshold float64 // after ApplyEmbedderDefaults
		err       string
	}{
		{name: "empty is the default", embedder: "", explicit: math.NaN(), threshold: 0.35},
		{name: "fr_feature", embedder: EmbedderFRFeature, explicit: math.NaN(), threshold: 0.35},
		{name: "mobilefacenet", embedder: EmbedderMobileFaceNet, explicit: math.NaN(), threshold: DefaultMatchThreshold(EmbedderMobileFaceNet)},
		{name: "explicit threshold wins", embedder: EmbedderMobileFaceNet, explicit: 0.5, threshold: 0.5},
		{name: "explicit default value wins too", embedder: EmbedderMobileFaceNet, explicit: 0.35, threshold: 0.35},
		{name: "unknown", embedder: "arcface", explicit: math.NaN(), threshold: 0.35,
			err: `inference.embedder: must be "fr_feature" or "mobilefacenet", got "arcface"`},
		{name: "wrong case", embedder: "MobileFaceNet", explicit: math.NaN(), threshold: 0.35,
			err: `inference.embedder: must be "fr_feature" or "mobilefacenet", got "MobileFaceNet"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Embedder = tc.embedder
			if !math.IsNaN(tc.explicit) {
				c.MatchThreshold = tc.explicit
			}
			c.ApplyEmbedderDefaults(!math.IsNaN(tc.explicit))
			if c.MatchThreshold != tc.threshold {
				t.Errorf("match threshold %v, want %v", c.MatchThreshold, tc.threshold)
			}
			err := c.Validate()
			if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err %v, want %q", err, tc.err)
			}
		})
	}
	if DefaultConfig().Embedder != DefaultEmbedder || DefaultEmbedder != EmbedderFRFeature {
		t.Errorf("default embedder %q, want %q", DefaultConfig().Embedder, EmbedderFRFeature)
	}
	if EmbeddingDim(EmbedderFRFeature) != 512 || EmbeddingDim(EmbedderMobileFaceNet) != 192 || EmbeddingDim("x") != 0 {
		t.Error("EmbeddingDim: wrong lengths")
	}
	if DefaultMatchThreshold(EmbedderMobileFaceNet) <= DefaultMatchThreshold(EmbedderFRFeature) {
		t.Error("MobileFaceNet's threshold should sit above fr_feature's (its impostor scores are higher)")
	}
}
