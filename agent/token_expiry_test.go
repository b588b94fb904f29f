package agent

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/uplink"
	"github.com/faceverify/faceverify/uplink/gateway"
	"github.com/faceverify/faceverify/uplink/spool"
)

// recordingSpool is the offline spool, recording what each Submit is told.
type recordingSpool struct {
	*spool.Spool
	mu    sync.Mutex
	infos []uplink.SubmitInfo
}

func (r *recordingSpool) Submit(ctx context.Context, base, token string, req api.SubmissionRequest, info uplink.SubmitInfo) (api.SubmissionResponse, error) {
	r.mu.Lock()
	r.infos = append(r.infos, info)
	r.mu.Unlock()
	return r.Spool.Submit(ctx, base, token, req, info)
}

// TestLaunchTokenExpiryReachesTheSpool: the expires_at of a launch is
// passed with the flow's correlation id to the submission, so a spooled
// record expires with its token.
func TestLaunchTokenExpiryReachesTheSpool(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	sp, err := spool.New(spool.Options{Dir: filepath.Join(t.TempDir(), "spool"), Key: bytes.Repeat([]byte{1}, spool.KeyLen),
		Next: gateway.New(gateway.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingSpool{Spool: sp}
	an := &agenttest.Analyzer{Default: agenttest.OneFace(faceBox, true)}
	h := startDeps(t, testCfg(), Deps{Source: source(green), Analyzer: an, Gateway: gateway.New(gateway.Options{}), Spool: rec})
	expires := time.Now().Add(10 * time.Minute).UTC().Truncate(time.Second)
	body := `{"token":"` + token + `","correlationId":"corr-1","baseURL":"` + gw.URL() + `","expires_at":"` + expires.Format(time.RFC3339) + `"}`
	if code, resp := h.post("/v1/verify", body); code != 202 {
		t.Fatalf("launch: %d %v", code, resp)
	}
	if v := h.waitFinal(); v.Status != api.StatusVerified {
		t.Fatalf("session %+v, want VERIFIED", v)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.infos) == 0 {
		t.Fatal("no submission")
	}
	for _, info := range rec.infos {
		if info.CorrelationID != "corr-1" || !info.TokenExpires.Equal(expires) || info.OnQueued == nil {
			t.Errorf("submit info %+v, want corr-1 expiring %v with OnQueued", info, expires)
		}
	}
}
