package agent

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/agent/session"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/uplink/gateway"
	"github.com/faceverify/faceverify/uplink/spool"
)

// TestSessionViewWhileQueued: GET /v1/session shows state "queued" (as
// the MQTT events do) while the upload waits in the offline spool, and
// elapsed_ms keeps growing although the session's state does not change.
func TestSessionViewWhileQueued(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	var up atomic.Bool
	gw.OnSubmit = func(int, api.SubmissionRequest) int {
		if up.Load() {
			return http.StatusAccepted
		}
		return http.StatusServiceUnavailable
	}
	sp, err := spool.New(spool.Options{Dir: filepath.Join(t.TempDir(), "spool"), Key: bytes.Repeat([]byte{2}, spool.KeyLen),
		Next: gateway.New(gateway.Options{}), RetryInitial: 20 * time.Millisecond, RetryMax: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	an := &agenttest.Analyzer{Default: agenttest.OneFace(faceBox, true)}
	h := startDeps(t, testCfg(), Deps{Source: source(green), Analyzer: an, Gateway: gateway.New(gateway.Options{}), Spool: sp})
	if code, _ := h.post("/v1/verify", launchBody(gw.URL())); code != http.StatusAccepted {
		t.Fatalf("launch: %d", code)
	}
	get := func() SessionView {
		t.Helper()
		resp, err := http.Get(h.url("/v1/session"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v SessionView
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	var first SessionView
	for deadline := time.Now().Add(10 * time.Second); ; {
		first = get()
		if first.State == session.StateQueued {
			break
		}
		if first.Status != "" || time.Now().After(deadline) {
			t.Fatalf("session never showed state %q: %+v", session.StateQueued, first)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	second := get()
	if second.State != session.StateQueued || second.ElapsedMS <= first.ElapsedMS {
		t.Errorf("while queued: %s elapsed %d ms, then %s elapsed %d ms; want queued and a growing elapsed_ms",
			first.State, first.ElapsedMS, second.State, second.ElapsedMS)
	}
	up.Store(true)
	final := h.waitFinal()
	if final.Status != api.StatusVerified || final.FinishedAt == nil {
		t.Fatalf("final %+v", final)
	}
	time.Sleep(20 * time.Millisecond)
	if again := get(); again.ElapsedMS != final.ElapsedMS {
		t.Errorf("elapsed_ms of a finished session moved: %d then %d", final.ElapsedMS, again.ElapsedMS)
	}
}
