package gateway_test

import (
	"path/filepath"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/inference"
)

// embedded is an OK live analysis whose face was embedded by model.
func embedded(model string, emb []float32) inference.Analysis {
	a := gatewaytest.Live(emb)
	a.Faces[0].EmbeddingModel = model
	return a
}

// unit is the unit vector along axis i of length dim.
func unit(dim, i int) []float32 {
	e := make([]float32, dim)
	e[i] = 1
	return e
}

// TestReferenceFromAnotherEmbedder: a reference kept while the gateway
// embedded with one model is never compared with a selfie embedded by
// another (inference.embedder changed, gateway restarted, flow still
// open): it is fetched and analysed again with the selfie's model, and the
// decision uses that. The embeddings are chosen so that a comparison
// across models would give cosine 0 (FACE_MISMATCH) and the right one 1.
func TestReferenceFromAnotherEmbedder(t *testing.T) {
	tests := []struct {
		name           string
		keptModel      string
		kept           []float32 // the reference's embedding when kept
		model          string
		now            []float32 // selfie and reference under the current model
		wantAnalyses   int       // reference analyses in all
		wantReanalysed string    // the model_changed counter after the decision
	}{
		{"same model", inference.EmbedderFRFeature, unit(512, 1), inference.EmbedderFRFeature, unit(512, 1), 1, "0"},
		{"other model and length", inference.EmbedderFRFeature, unit(512, 1), inference.EmbedderMobileFaceNet, unit(192, 2), 2, "1"},
		{"same length, other model", "model-a", unit(192, 1), "model-b", unit(192, 2), 2, "1"},
		{"kept before models were recorded", "", unit(512, 1), inference.EmbedderFRFeature, unit(512, 2), 2, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *gateway.Config) { c.Erasure.KeyDir = filepath.Join(t.TempDir(), "keys") })
			e.analyzer.Set(gatewaytest.Green, embedded(tt.keptModel, tt.kept))
			e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
			tok, cid := e.initiate("alice")
			e.waitKept(1)

			// The embedder changes: a restart with the new model.
			e.stop()
			e.start()
			e.analyzer.Set(gatewaytest.Green, embedded(tt.model, tt.now))
			e.analyzer.Set(gatewaytest.Red, embedded(tt.model, tt.now))
			if _, _, ae := e.submit(tok, selfie(gatewaytest.Red, "k1")); ae.Code != "" {
				t.Fatalf("submit: %+v", ae)
			}
			if st := e.waitStatus(tok); st.Status != api.StatusVerified {
				t.Fatalf("status %+v, want VERIFIED (compared within one model)", st)
			}
			if d := e.details(cid); d.Scores.Similarity == nil || *d.Scores.Similarity < 0.999 {
				t.Errorf("similarity %v, want 1", d.Scores.Similarity)
			}
			if n := referenceAnalyses(e.analyzer); n != tt.wantAnalyses {
				t.Errorf("reference analysed %d times, want %d", n, tt.wantAnalyses)
			}
			got := e.metric(`faceverify_gateway_reference_cache_total{result="model_changed"}`)
			if tt.wantReanalysed == "0" && got != "" || tt.wantReanalysed != "0" && got != `faceverify_gateway_reference_cache_total{result="model_changed"} `+tt.wantReanalysed {
				t.Errorf("metric %q, want model_changed %s", got, tt.wantReanalysed)
			}
		})
	}
}
