package agent

import (
	"encoding/json"
	"fmt"
	"image/color"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
)

func getTimeline(t *testing.T, h *harness) (int, Timeline) {
	t.Helper()
	resp, err := http.Get(h.url("/v1/session/timeline"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tl Timeline
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&tl); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, tl
}

// TestTimelineOfOneVerification: GET /v1/session/timeline shows one
// verification's phases in order, on one time axis from the command,
// with the frame of each analysis.
func TestTimelineOfOneVerification(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	gw.OnStatus = func(int, int) (api.StatusResponse, int) {
		return api.StatusResponse{Status: api.StatusVerified, NextAction: api.ActionExit, AttemptsLeft: 2}, 200
	}
	an := &agenttest.Analyzer{ByColor: map[color.RGBA]inference.Analysis{green: agenttest.OneFace(faceBox, true)}}
	cfg := testCfg()
	h := start(t, cfg, source(green), an, gw, nil)
	if code, _ := getTimeline(t, h); code != http.StatusNotFound {
		t.Errorf("timeline before any session: %d, want 404", code)
	}
	if code, body := h.post("/v1/verify", launchBody(gw.URL())); code != http.StatusAccepted {
		t.Fatalf("launch: %d %v", code, body)
	}
	v := h.waitFinal()
	if v.Status != api.StatusVerified {
		t.Fatalf("final %+v, want VERIFIED", v)
	}
	code, tl := getTimeline(t, h)
	if code != http.StatusOK || tl.SessionID != v.SessionID || tl.StartedAt.Sub(v.StartedAt).Abs() > time.Millisecond {
		t.Fatalf("timeline %d %+v, want 200 for session %s", code, tl, v.SessionID)
	}
	// Phases in order, analyses collapsed (the camera may deliver more
	// frames than the round needs; a drop can skip one).
	var phases []string
	analyses := 0
	var prev float64
	for i, m := range tl.Marks {
		concurrent := m.Phase == PhaseFirstFrame || m.Phase == PhaseCameraOpen || m.Phase == PhaseGatewayWarm
		if m.AtMS < prev && !concurrent {
			t.Errorf("mark %d %s at %.2f ms, before the previous one (%.2f ms)", i, m.Phase, m.AtMS, prev)
		}
		if !concurrent {
			prev = m.AtMS
		}
		switch m.Phase {
		case PhaseAnalysisStart:
			analyses++
			fallthrough
		case PhaseAnalysisEnd:
			if m.Seq == 0 {
				t.Errorf("mark %d %s without its frame", i, m.Phase)
			}
			if len(phases) > 0 && phases[len(phases)-1] == "analysis" {
				continue
			}
			phases = append(phases, "analysis")
			continue
		case PhaseCameraOpen, PhaseFirstFrame, PhaseGatewayWarm:
			continue // from the camera's and the uplink's goroutines: checked below
		}
		phases = append(phases, m.Phase)
	}
	want := []string{PhaseCommand, PhaseCaptureStart, "analysis", PhaseCaptureDone, PhaseUploadSent, PhaseUploadAcked, PhaseStatusSent, PhaseStatusAnswered, PhaseExit}
	if !slices.Equal(phases, want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	if analyses < cfg.Session.PassFrames {
		t.Errorf("%d analyses, want ≥ %d (the passing frames of the round)", analyses, cfg.Session.PassFrames)
	}
	at := map[string]float64{}
	for _, m := range tl.Marks {
		if _, ok := at[m.Phase]; !ok {
			at[m.Phase] = m.AtMS
		}
	}
	for _, p := range []string{PhaseCameraOpen, PhaseFirstFrame} {
		got, ok := at[p]
		if !ok || got < at[PhaseCaptureStart] || got > at[PhaseAnalysisStart] && p == PhaseCameraOpen {
			t.Errorf("%s at %v (present %v), want between capture_start %.2f and the first analysis %.2f", p, got, ok, at[PhaseCaptureStart], at[PhaseAnalysisStart])
		}
	}
	if got, ok := at[PhaseGatewayWarm]; !ok || got > at[PhaseUploadSent] {
		t.Errorf("gateway_warm at %v (present %v), want before upload_sent %.2f", got, ok, at[PhaseUploadSent])
	}
	if last := tl.Marks[len(tl.Marks)-1]; last.Phase != PhaseExit || last.AtMS > float64(v.ElapsedMS+1) {
		t.Errorf("last mark %+v, want exit at ≤ the session's elapsed_ms %d", last, v.ElapsedMS)
	}
}

// TestTimelineMarks: marks of another session are ignored, times are
// counted from the command, and one session keeps at most
// maxTimelineMarks, counting the rest.
func TestTimelineMarks(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name        string
		marks       int
		otherSID    bool
		wantMarks   int
		wantDropped int
	}{
		{"one mark", 1, false, 2, 0},
		{"another session's mark", 1, true, 1, 0},
		{"bounded", maxTimelineMarks + 5, false, maxTimelineMarks, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tl timeline
			if _, ok := tl.snapshot(); ok {
				t.Fatal("snapshot before any session: want none")
			}
			tl.begin("s1", t0)
			sid := "s1"
			if tt.otherSID {
				sid = "s0"
			}
			for i := range tt.marks {
				tl.mark(sid, PhaseAnalysisEnd, uint64(i+1), t0.Add(time.Duration(i+1)*1234567*time.Nanosecond))
			}
			got, ok := tl.snapshot()
			if !ok || got.SessionID != "s1" || !got.StartedAt.Equal(t0) || len(got.Marks) != tt.wantMarks || got.Dropped != tt.wantDropped {
				t.Fatalf("snapshot %v: session %q, %d marks, %d dropped; want s1, %d, %d", ok, got.SessionID, len(got.Marks), got.Dropped, tt.wantMarks, tt.wantDropped)
			}
			if got.Marks[0] != (TimelineMark{Phase: PhaseCommand}) {
				t.Errorf("first mark %+v, want the command at 0 ms", got.Marks[0])
			}
			if tt.wantMarks > 1 {
				if m := got.Marks[1]; m.AtMS != 1.23 || m.Seq != 1 {
					t.Errorf("second mark %+v, want at 1.23 ms (1.234567 ms to 0.01 ms), seq 1", m)
				}
			}
			// A new session starts afresh.
			tl.begin("s2", t0.Add(time.Minute))
			if got, _ := tl.snapshot(); got.SessionID != "s2" || len(got.Marks) != 1 || got.Dropped != 0 {
				t.Errorf("after a new begin: %+v", got)
			}
		})
	}
}

// TestTimelineCarriesNoScores: the timeline's JSON holds phase names and
// times only.
func TestTimelineCarriesNoScores(t *testing.T) {
	var tl timeline
	tl.begin("s1", time.Unix(0, 0))
	tl.mark("s1", PhaseAnalysisEnd, 3, time.Unix(0, int64(5*time.Millisecond)))
	snap, _ := tl.snapshot()
	b, _ := json.Marshal(snap)
	for _, k := range []string{"liveness", "similarity", "token", "image", "embedding", "box"} {
		if strings.Contains(strings.ToLower(string(b)), k) {
			t.Errorf("timeline JSON %s mentions %q", b, k)
		}
	}
	if want := fmt.Sprintf(`{"phase":%q,"at_ms":5,"seq":3}`, PhaseAnalysisEnd); !strings.Contains(string(b), want) {
		t.Errorf("timeline JSON %s, want %s", b, want)
	}
}
