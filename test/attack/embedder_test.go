package attack

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
)

// TestEmbedderSwitchWithFlowOpen: a flow opened while the gateway embeds
// with fr_feature keeps its analysed reference (512-d, sealed with an
// epoch key kept in erasure.key_dir); the gateway is
// restarted with inference.embedder = "mobilefacenet" (its own default
// threshold, 0.45) while the flow is open, and the genuine selfie then
// uploaded is VERIFIED once against the reference analysed again with
// MobileFaceNet, never compared across the two models, as the gateway's
// log says.
func TestEmbedderSwitchWithFlowOpen(t *testing.T) {
	// Epoch keys in files, so that the kept reference stays readable
	// across the restart (in memory only, it would be analysed again as
	// unreadable, whatever its model).
	keys := t.TempDir()
	s := Start(t, func(c *gateway.Config) { c.Erasure.KeyDir = keys })
	user, selfie := s.Genuine(t)
	f := s.InitiateFlow(t, user, NewCorrelation("embedder-switch"))
	Eventually(t, decisionTimeout, "the flow's reference kept", func() bool {
		return s.Count(t, "flow_references r JOIN flows f ON f.id = r.flow_id WHERE f.correlation_id = ? AND r.sealed IS NOT NULL", f.CorrelationID) == 1
	})
	s.Restart(t, func(c *gateway.Config) {
		c.Inference.Embedder = inference.EmbedderMobileFaceNet
		c.Inference.MatchThreshold = inference.DefaultMatchThreshold(inference.EmbedderMobileFaceNet)
	})
	if r := s.SignedSubmit(t, s.Device, f, selfie); r.Code != http.StatusAccepted {
		t.Fatalf("genuine selfie after the switch: %s", r)
	}
	d := s.WaitFinal(t, f)
	if d.Status != api.StatusVerified || len(d.Attempts) != 1 {
		t.Fatalf("after the switch: %s/%s with %d attempts (detail %q), want VERIFIED with 1", d.Status, d.Reason, len(d.Attempts), d.Detail)
	}
	log, err := os.ReadFile(s.gw.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "kept reference embedded by another model") || !strings.Contains(string(log), "kept_model=fr_feature") {
		t.Errorf("the gateway's log does not show the fr_feature reference analysed again")
	}
}
