package gateway

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/inference"
)

func TestWarnLowMatchThreshold(t *testing.T) {
	for _, tc := range []struct {
		name      string
		embedder  string
		threshold float64
		warn      bool
	}{
		{"default embedder at its threshold", "", 0.35, false},
		{"fr_feature above", inference.EmbedderFRFeature, 0.5, false},
		{"fr_feature below", inference.EmbedderFRFeature, 0.3, true},
		{"negative matches anyone", inference.EmbedderFRFeature, -1, true},
		{"mobilefacenet at fr_feature's threshold", inference.EmbedderMobileFaceNet, 0.35, true},
		{"mobilefacenet at its own", inference.EmbedderMobileFaceNet, 0.45, false},
		{"unknown embedder (refused by Validate)", "arcface", 0.1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			cfg := inference.Config{Embedder: tc.embedder, MatchThreshold: tc.threshold}
			if got := warnLowMatchThreshold(cfg, log); got != tc.warn {
				t.Fatalf("warned %v, want %v (log %q)", got, tc.warn, buf.String())
			}
			if logged := strings.Contains(buf.String(), "level=WARN"); logged != tc.warn {
				t.Fatalf("log %q, want a warning: %v", buf.String(), tc.warn)
			}
			if tc.warn && !strings.Contains(buf.String(), "measured_threshold=") {
				t.Errorf("warning %q does not name the measured threshold", buf.String())
			}
		})
	}
}
