package agent

import (
	"sync"
	"time"
)

// Timeline phases: the marks the agent records for the current or last
// session, in the order one verification meets them. A RETRY starts the
// capture phases again.
const (
	PhaseCommand        = "command"         // the launch reached the session loop
	PhaseCaptureStart   = "capture_start"   // a capture round asked for the camera
	PhaseGatewayWarm    = "gateway_warm"    // the connection to the gateway is open (uplink.Warmer), during the capture
	PhaseCameraOpen     = "camera_open"     // the camera's Open returned
	PhaseFirstFrame     = "first_frame"     // the round's first frame arrived
	PhaseAnalysisStart  = "analysis_start"  // the analyzer took a frame (Seq)
	PhaseAnalysisEnd    = "analysis_end"    // its analysis ended (Seq)
	PhaseCaptureDone    = "capture_done"    // the round ended with a frame to upload
	PhaseUploadSent     = "upload_sent"     // crop and encode done, the submission goes out
	PhaseUploadAcked    = "upload_acked"    // the gateway accepted it (or the spool queued it)
	PhaseStatusSent     = "status_sent"     // a status call goes out
	PhaseStatusAnswered = "status_answered" // its answer came
	PhaseExit           = "exit"            // the session's final outcome
)

// maxTimelineMarks bounds one session's timeline (a long session of many
// rounds keeps its first marks and counts the rest as Dropped).
const maxTimelineMarks = 512

// TimelineMark is one moment of a session.
type TimelineMark struct {
	Phase string `json:"phase"` // one of the Phase* constants
	// AtMS is the time since the command (PhaseCommand), in milliseconds
	// with 0.01 ms resolution, on the agent's clock.
	AtMS float64 `json:"at_ms"`
	// Seq is the camera frame (capture.Frame.Seq) of analysis marks; 0
	// otherwise.
	Seq uint64 `json:"seq,omitempty"`
}

// Timeline is the current or last session's marks, as GET
// /v1/session/timeline shows them: phase names and times only, never
// images, scores or credentials.
type Timeline struct {
	SessionID string         `json:"session_id"`
	StartedAt time.Time      `json:"started_at"`
	Marks     []TimelineMark `json:"marks"`
	Dropped   int            `json:"dropped,omitempty"` // marks beyond the bound of one session
}

// timeline records the marks of the running session. The session loop
// begins it; the workers mark it from their goroutines, naming the
// session so a late mark of an earlier one is ignored.
type timeline struct {
	mu    sync.Mutex
	sid   string
	start time.Time
	marks []TimelineMark
	drop  int
}

// begin starts session sid's timeline at at with its PhaseCommand mark.
func (t *timeline) begin(sid string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sid, t.start, t.drop = sid, at, 0
	t.marks = append(make([]TimelineMark, 0, 32), TimelineMark{Phase: PhaseCommand})
}

// mark records phase of session sid at at (seq: the frame, or 0).
func (t *timeline) mark(sid, phase string, seq uint64, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if sid == "" || sid != t.sid {
		return
	}
	if len(t.marks) >= maxTimelineMarks {
		t.drop++
		return
	}
	ms := float64(at.Sub(t.start).Round(10*time.Microsecond)) / float64(time.Millisecond)
	t.marks = append(t.marks, TimelineMark{Phase: phase, AtMS: ms, Seq: seq})
}

// snapshot returns a copy of the timeline, or false before any session.
func (t *timeline) snapshot() (Timeline, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sid == "" {
		return Timeline{}, false
	}
	return Timeline{SessionID: t.sid, StartedAt: t.start, Marks: append([]TimelineMark(nil), t.marks...), Dropped: t.drop}, true
}

// Timeline returns the current or last session's timeline, or false if
// no session ran yet.
func (a *Agent) Timeline() (Timeline, bool) { return a.timeline.snapshot() }

// mark records phase for session sid now, on the agent's clock.
func (a *Agent) mark(sid, phase string, seq uint64) {
	a.timeline.mark(sid, phase, seq, a.d.Clock.Now())
}
