package session

import (
	"reflect"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
)

// runWith drives a session of cfg through steps, like run.
func runWith(cfg Config, steps []step) (State, [][]Action) {
	s := New(cfg)
	var all [][]Action
	for _, st := range steps {
		ev := st.ev
		if e, ok := ev.(FrameAnalyzed); ok && e.Gen == 0 {
			e.Gen = s.Gen
			ev = e
		}
		var acts []Action
		s, acts = Next(s, ev, t0.Add(st.at))
		all = append(all, acts)
	}
	return s, all
}

// took sets how long a frame's analysis ran.
func took(f FrameAnalyzed, d time.Duration) FrameAnalyzed { f.Took = d; return f }

func TestAnalysisPacing(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name     string
		interval time.Duration
		duty     float64
		end, ran time.Duration // the first analysis ended at t0+end after running ran
		want     time.Duration // the next analysis not before t0+want
	}{
		{"back to back", time.Second / 30, 1, 45 * ms, 45 * ms, 45 * ms},
		{"duty 0.5 rests as long as it ran", time.Second / 30, 0.5, 45 * ms, 45 * ms, 90 * ms},
		{"duty 0.75 rests a third", time.Second / 30, 0.75, 45 * ms, 45 * ms, 60 * ms},
		{"rate cap binds a quick analysis", time.Second / 10, 0.5, 20 * ms, 10 * ms, 100 * ms},
		{"the old fixed slot", 200 * ms, 1, 45 * ms, 45 * ms, 200 * ms},
		{"no duration known: no rest", time.Second / 30, 0.5, 45 * ms, 0, 45 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.AnalyzeInterval, cfg.AnalyzeDuty = tc.interval, tc.duty
			cfg.PassFrames = 3 // one passing frame leaves two: the rest applies (TestDutyRestSkippedBeforeTheLastFrame)
			_, all := runWith(cfg, []step{begin, {tc.end, took(frame(1, good(120)), tc.ran)}})
			req := find[AnalyzeFrame](all[1])
			if len(req) != 1 || !req[0].NotBefore.Equal(t0.Add(tc.want)) {
				t.Fatalf("next analysis %+v, want not before t0+%v", req, tc.want)
			}
		})
	}
}

// TestPassingFramesTakeOneAnalysisEach: with the product defaults, two
// passing frames end the round at the second analysis's end, not at a
// second fixed slot, and the first status call goes out with the upload's
// answer, as a long poll.
func TestPassingFramesTakeOneAnalysisEach(t *testing.T) {
	cfg := DefaultConfig()
	ms := time.Millisecond
	s, all := runWith(cfg, []step{begin,
		{45 * ms, took(frame(1, good(120)), 45*ms)},
		// The camera's next frame came at +100 ms (10 fps): analysed at once.
		{145 * ms, took(frame(2, good(120)), 45*ms)},
		{180 * ms, UploadDone{Response: api.SubmissionResponse{Attempt: 1, Status: api.StatusProcessing}}},
	})
	if s.Phase != Processing {
		t.Fatalf("phase %s, want processing", s.Phase)
	}
	if req := find[AnalyzeFrame](all[1]); len(req) != 1 || !req[0].NotBefore.Equal(t0.Add(45*ms)) {
		t.Errorf("second analysis %+v, want not before t0+45ms (no duty rest before the frame that can end the round)", req)
	}
	if n := count[Upload](all[2]); n != 1 {
		t.Errorf("the second passing frame did not upload: %#v", all[2])
	}
	polls := find[PollStatus](all[3])
	if want := []PollStatus{{Wait: cfg.StatusWait}}; !reflect.DeepEqual(polls, want) {
		t.Errorf("after the upload: polls %+v, want %+v at once", polls, want)
	}
	if n := count[SetTimer](all[3]); n != 0 {
		t.Errorf("after the upload: %d timers, want none (no poll delay)", n)
	}
}

func TestLongPollAnswers(t *testing.T) {
	ms := time.Millisecond
	cfg := DefaultConfig()
	cfg.PollMin = 250 * ms
	upload := []step{begin,
		{45 * ms, took(frame(1, good(120)), 45*ms)},
		{145 * ms, took(frame(2, good(120)), 45*ms)},
		{180 * ms, UploadDone{}},
	}
	waited := statusResp(api.StatusProcessing, api.ActionStatus, "", 1000, 2)
	waited.Response.Waited = true
	for _, tc := range []struct {
		name      string
		answer    StatusResult
		wantPoll  bool          // polls again at once
		wantTimer time.Duration // else a poll timer this long after the answer
	}{
		{"long poll waited its wait: again at once", waited, true, 0},
		{"gateway ignored the wait: retry_after_ms", statusResp(api.StatusProcessing, api.ActionStatus, "", 1000, 2), false, time.Second},
		{"gateway ignored the wait, tiny retry_after: poll_min", statusResp(api.StatusProcessing, api.ActionStatus, "", 10, 2), false, 250 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := 20180 * ms
			_, all := runWith(cfg, append(upload, step{at, tc.answer}))
			last := all[len(all)-1]
			polls, timers := find[PollStatus](last), find[SetTimer](last)
			if tc.wantPoll {
				if len(polls) != 1 || polls[0].Wait != cfg.StatusWait || len(timers) != 0 {
					t.Fatalf("actions %#v, want one PollStatus{Wait: %v} and no timer", last, cfg.StatusWait)
				}
				return
			}
			if len(polls) != 0 || len(timers) != 1 || timers[0].Kind != TimerPoll || !timers[0].At.Equal(t0.Add(at+tc.wantTimer)) {
				t.Fatalf("actions %#v, want a poll timer at +%v", last, tc.wantTimer)
			}
		})
	}
}

// TestPollTimerAsksForTheWait: the poll timer (a gateway without long polls,
// or poll_initial > 0) still asks for the long poll, so a gateway that gains
// it answers at once.
func TestPollTimerAsksForTheWait(t *testing.T) {
	cfg := testConfig() // poll_initial 500ms
	_, all := runWith(cfg, []step{begin,
		{200 * time.Millisecond, frame(1, good(120))},
		{400 * time.Millisecond, frame(2, good(120))},
		{500 * time.Millisecond, UploadDone{}},
		{time.Second, Timer{TimerPoll}},
	})
	if timers := find[SetTimer](all[3]); len(timers) != 1 || !timers[0].At.Equal(t0.Add(time.Second)) {
		t.Errorf("after the upload %#v, want a poll timer at +500ms", all[3])
	}
	if polls := find[PollStatus](all[4]); len(polls) != 1 || polls[0].Wait != cfg.StatusWait {
		t.Errorf("poll timer %#v, want PollStatus{Wait: %v}", all[4], cfg.StatusWait)
	}
}

// TestDutyRestSkippedBeforeTheLastFrame: the duty rest is skipped once per
// round, after the passing frame that leaves one more to end it; other
// frames rest as analyze_duty asks, and a new round may skip it again.
func TestDutyRestSkippedBeforeTheLastFrame(t *testing.T) {
	ms := time.Millisecond
	interval := time.Second / 25
	for _, tc := range []struct {
		name       string
		duty       float64
		passFrames int
		frames     []FrameAnalyzed // each took 30 ms, ending 80 ms apart
		want       time.Duration   // the last request's NotBefore, after the last frame's end
	}{
		{"pass, 2 needed: no rest", 0.5, 2, []FrameAnalyzed{frame(1, good(120))}, 0},
		{"fail: rest", 0.5, 2, []FrameAnalyzed{frame(1, spoof(120))}, 30 * ms},
		{"pass, 3 needed: rest", 0.5, 3, []FrameAnalyzed{frame(1, good(120))}, 30 * ms},
		{"pass, pass, 3 needed: no rest", 0.5, 3, []FrameAnalyzed{frame(1, good(120)), frame(2, good(120))}, 0},
		{"pass, fail, pass: skipped once per round", 0.5, 2, []FrameAnalyzed{frame(1, good(120)), frame(2, spoof(120)), frame(3, good(120))}, 30 * ms},
		{"duty 1: back to back anyway", 1, 2, []FrameAnalyzed{frame(1, spoof(120))}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.AnalyzeInterval, cfg.AnalyzeDuty, cfg.PassFrames = interval, tc.duty, tc.passFrames
			steps := []step{begin}
			at := time.Duration(0)
			for _, f := range tc.frames {
				at += 80 * ms // past the previous request's rest (30 ms) and the interval (40 ms) after it
				steps = append(steps, step{at, took(f, 30*ms)})
			}
			s, all := runWith(cfg, steps)
			if s.Phase != Capturing {
				t.Fatalf("phase %s, want capturing", s.Phase)
			}
			req := find[AnalyzeFrame](all[len(all)-1])
			if len(req) != 1 || !req[0].NotBefore.Equal(t0.Add(at+tc.want)) {
				t.Fatalf("next analysis %+v, want not before t0+%v (%v after the last end)", req, at+tc.want, tc.want)
			}
		})
	}
}
