package gateway

import (
	"log/slog"

	"github.com/faceverify/faceverify/inference"
)

// warnLowMatchThreshold logs a warning at start when the configured match
// threshold (cosine similarity, −1…1) is below the one measured for the
// configured embedder (inference.DefaultMatchThreshold): such a setting
// trades false matches (FMR) for fewer false rejections, and a value at or
// below the highest impostor cosine measured on the labelled set (0.171
// for fr_feature, 0.269 for mobilefacenet) matches different people there.
// It is a warning, not an error: a partner may choose a lower threshold
// from its own evaluation (`facegateway eval`). It returns whether it
// warned.
func warnLowMatchThreshold(cfg inference.Config, log *slog.Logger) bool {
	measured := inference.DefaultMatchThreshold(cfg.Embedder)
	if !(cfg.MatchThreshold < measured) { // NaN (unknown embedder) never warns; Validate refuses it
		return false
	}
	embedder := cfg.Embedder
	if embedder == "" {
		embedder = inference.DefaultEmbedder
	}
	log.Warn("inference.match_threshold is below the embedder's measured threshold: more different people will match (higher FMR)",
		"match_threshold", cfg.MatchThreshold, "embedder", embedder, "measured_threshold", measured)
	return true
}
