package gateway_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/onnx"
	"github.com/faceverify/faceverify/internal/testenv"
)

// modelGuard bounds a wait for a decision by the real models under the
// race detector on a loaded machine; it only turns a hang into a failure.
const modelGuard = 5 * time.Minute

// waitDecided polls the flow's status until it is no longer processing.
func (e *env) waitDecided(tok string) api.StatusResponse {
	e.t.Helper()
	deadline := time.Now().Add(modelGuard)
	for {
		st := e.status(tok)
		if st.Status != api.StatusProcessing {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("still processing after %v: %+v", modelGuard, st)
		}
		time.Sleep(time.Duration(max(st.RetryAfterMS, 50)) * time.Millisecond)
	}
}

// TestEmbedderTierDecisions: a gateway configured with each embedder
// tier, on the real models and photos of ../shared/testdata, verifies
// person_a against another photo of person_a and rejects person_b with
// FACE_MISMATCH, at the tier's default threshold (match_threshold unset).
func TestEmbedderTierDecisions(t *testing.T) {
	root := testenv.RepoRoot(t)
	td := filepath.Join(root, "..", "shared", "testdata", "identity")
	if _, err := os.Stat(filepath.Join(td, "person_a_01.jpg")); err != nil {
		testenv.Missing(t, "labelled photos not found in ../shared/testdata")
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(td, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, embedder := range []string{inference.EmbedderMobileFaceNet, inference.EmbedderFRFeature} {
		t.Run(embedder, func(t *testing.T) {
			icfg := inference.DefaultConfig()
			icfg.ModelsDir = filepath.Join(root, "models")
			icfg.Embedder = embedder
			icfg.ApplyEmbedderDefaults(false)
			eng, err := onnx.New(icfg, nil)
			if err != nil {
				testenv.Missing(t, "models not available (run `make models`): %v", err)
			}
			defer eng.Close()
			e := newEnvDeps(t, func(d *gateway.Deps) { d.Analyzer = eng }, func(c *gateway.Config) { c.Inference = icfg })
			e.partner.serveImage(read("person_a_02.jpg"))
			for _, tc := range []struct {
				selfie     string
				status     string
				reason     string
				similarity func(float64) bool
			}{
				{"person_a_01.jpg", api.StatusVerified, "", func(s float64) bool { return s >= icfg.MatchThreshold }},
				{"person_b_01.jpg", api.StatusRejected, api.ReasonFaceMismatch, func(s float64) bool { return s < icfg.MatchThreshold }},
			} {
				tok, cid := e.initiate("alice")
				req := selfie(gatewaytest.Grey, "k-"+tc.selfie)
				req.Selfie = read(tc.selfie)
				if _, _, ae := e.submit(tok, req); ae.Code != "" {
					t.Fatalf("%s: submit: %+v", tc.selfie, ae)
				}
				st := e.waitDecided(tok)
				if st.Status != tc.status || st.Reason != tc.reason {
					t.Fatalf("%s: %s %s, want %s %s", tc.selfie, st.Status, st.Reason, tc.status, tc.reason)
				}
				d := e.details(cid)
				if d.Scores.Similarity == nil || !tc.similarity(*d.Scores.Similarity) {
					t.Errorf("%s: similarity %v against threshold %v", tc.selfie, d.Scores.Similarity, icfg.MatchThreshold)
				} else {
					t.Logf("%s: %s, cosine %.3f (threshold %.2f)", tc.selfie, st.Status, *d.Scores.Similarity, icfg.MatchThreshold)
				}
			}
		})
	}
}
