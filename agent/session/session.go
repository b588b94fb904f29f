// Package session is the kiosk's capture → verify session as a pure state
// machine: Next(state, event, now) returns the new state and the actions to
// perform. It does no I/O, starts no goroutines and reads no clock; the
// agent's session loop feeds it events (frames analysed, timers, gateway
// answers, commands) and executes the actions it returns. Table tests drive
// it directly.
//
// One session: capture frames for up to Config.CaptureWindow, analysing at
// frames back to back, each as soon as the previous analysis ended (bounded
// by the camera's frame rate, Config.AnalyzeInterval and Config.AnalyzeDuty),
// so N passing frames take N analyses; keep the best frame (exactly one
// good face, then face size, sharpness and liveness); stop early after
// Config.PassFrames consecutive frames pass every local gate (one face,
// quality, local liveness). At the end of the window: a frame with one good
// face is uploaded, even when it failed local liveness (the gateway is
// authoritative, records the presentation attack and counts attempts);
// without one (NO_FACE, MULTIPLE_FACES, LOW_QUALITY) the agent captures again,
// up to Config.LocalAttempts rounds, and never uploads those. After an
// upload it polls the gateway's status at once, as a long poll of
// Config.StatusWait (answered the moment the gateway decides), and obeys
// next_action: STATUS → poll again at once after a long poll that waited its
// whole wait, else after retry_after_ms (clamped to [PollMin, PollMax]: a
// gateway without long polls), RETRY → capture
// again, EXIT → done with the gateway's status and reason. A 409 on upload
// (the flow takes no more submissions) is resolved by polling the status
// too, unless nothing of this session can have reached the gateway: then
// the flow's verdict is about another capture and the session fails with
// FLOW_FINAL or ATTEMPTS_EXHAUSTED instead. 401/403 refusals are named by
// the gateway's code: INVALID_TOKEN for the user token,
// DEVICE_NOT_ENROLLED, DEVICE_REVOKED, SIGNATURE_REJECTED or CLOCK_SKEW for
// the device signature.
package session

import (
	"fmt"
	"time"

	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/uplink"
)

// Config holds the session's timing and retry policy. All durations are
// positive; agent.Config validates them.
type Config struct {
	// CaptureWindow is how long one capture round lasts at most.
	CaptureWindow time.Duration
	// AnalyzeInterval is the minimum time between the starts of two frame
	// analyses (1 / capture.analyze_fps).
	AnalyzeInterval time.Duration
	// AnalyzeDuty caps the share of time spent analysing while capturing,
	// in (0,1] (capture.analyze_duty): after an analysis that took d, the
	// next starts no sooner than d·(1−AnalyzeDuty)/AnalyzeDuty later. 1
	// (or 0) analyses back to back. Once per round the rest is skipped:
	// after the passing frame that leaves one more to end the round
	// (PassFrames−1 in a row), so the frame that can end it is not held
	// back (one analysis more than the cap per round, at most).
	AnalyzeDuty float64
	// PassFrames is how many consecutive passing frames end a round early.
	PassFrames int
	// LocalAttempts is how many capture rounds without a usable face are
	// made before the session fails locally (per upload).
	LocalAttempts int
	// Timeout bounds the whole session, from Start to the final answer.
	Timeout time.Duration
	// UploadRetries is how many times a submission is retried after a
	// temporary failure (network, timeout, 429, 5xx).
	UploadRetries int
	// RetryBackoff is the first retry delay; it doubles per retry up to
	// RetryBackoffMax. Used for uploads and failed status polls.
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	// PollInitial is the delay from an accepted upload to the first poll;
	// 0 polls at once.
	PollInitial time.Duration
	// StatusWait is the long-poll wait asked of the gateway on every
	// status poll (PollStatus.Wait); 0 polls without waiting.
	StatusWait time.Duration
	// PollMin and PollMax clamp the gateway's retry_after_ms.
	PollMin, PollMax time.Duration
	// PollFailures is how many consecutive temporary status failures are
	// tolerated before the session fails with GATEWAY_UNAVAILABLE.
	PollFailures int
	// ResultHold is how long the success/failure light stays on before the
	// lights return to idle.
	ResultHold time.Duration
	// Guide holds the quality gates guidance derives from (guidance.go).
	Guide GuideConfig
}

// DefaultConfig returns the defaults documented in config.toml.
func DefaultConfig() Config {
	return Config{
		CaptureWindow:   6 * time.Second,
		AnalyzeInterval: time.Second / 25,
		AnalyzeDuty:     0.5,
		PassFrames:      2,
		LocalAttempts:   3,
		Timeout:         2 * time.Minute,
		UploadRetries:   3,
		RetryBackoff:    time.Second,
		RetryBackoffMax: 10 * time.Second,
		PollInitial:     0,
		StatusWait:      20 * time.Second,
		PollMin:         250 * time.Millisecond,
		PollMax:         5 * time.Second,
		PollFailures:    5,
		ResultHold:      5 * time.Second,
	}
}

// maxAnalyzeErrors consecutive analyzer (runtime) failures end the session.
const maxAnalyzeErrors = 3

// Phase is where a session is.
type Phase string

// Phases. Their lowercase names are the "state" of progress events, except
// Done, which is reported as the final status ("verified", "rejected",
// "failed", "cancelled").
const (
	Idle       Phase = "idle"
	Capturing  Phase = "capturing"
	Uploading  Phase = "uploading"
	Processing Phase = "processing" // uploaded; polling the gateway
	Done       Phase = "done"
)

// StateQueued is the progress-event state published when the upload waits
// in the offline spool (the phase stays Uploading).
const StateQueued = "queued"

// Local outcome statuses, beside api.StatusVerified and api.StatusRejected
// which come from the gateway.
const (
	StatusFailure   = "FAILED"    // the session could not get an answer
	StatusCancelled = "CANCELLED" // cancelled by the kiosk app or shutdown
)

// Local reasons, beside the gateway's api.Reason* values. NO_FACE,
// MULTIPLE_FACES and LOW_QUALITY are also used locally when every capture
// round failed before any upload.
const (
	ReasonCameraLost         = "CAMERA_LOST"         // capture.ErrDeviceLost mid-capture
	ReasonCameraError        = "CAMERA_ERROR"        // the camera failed to open
	ReasonAnalyzerError      = "ANALYZER_ERROR"      // the inference runtime failed repeatedly
	ReasonTokenExpired       = "TOKEN_EXPIRED"       // gateway 410 / token_expired
	ReasonInvalidToken       = "INVALID_TOKEN"       // gateway 401 invalid_token (or 401/403 without a device code)
	ReasonDeviceNotEnrolled  = "DEVICE_NOT_ENROLLED" // gateway 403 unknown_device: the device key is not registered
	ReasonDeviceRevoked      = "DEVICE_REVOKED"      // gateway 403 revoked_device
	ReasonSignatureRejected  = "SIGNATURE_REJECTED"  // gateway 401 bad_signature or signature_required
	ReasonClockSkew          = "CLOCK_SKEW"          // gateway 401 clock_skew: the device clock is off
	ReasonFlowFinal          = "FLOW_FINAL"          // gateway 409 flow_final before this session had an upload accepted
	ReasonSessionTimeout     = "SESSION_TIMEOUT"     // Config.Timeout elapsed
	ReasonUploadFailed       = "UPLOAD_FAILED"       // temporary failures outlasted the retries
	ReasonUploadRejected     = "UPLOAD_REJECTED"     // the gateway refused the submission (4xx)
	ReasonGatewayUnavailable = "GATEWAY_UNAVAILABLE" // status polls kept failing
	ReasonGatewayError       = "GATEWAY_ERROR"       // the gateway answered something unusable
	ReasonUploadQueued       = "UPLOAD_QUEUED"       // the session timed out while its upload waited in the offline spool (it is still delivered later)
	ReasonCancelled          = "CANCELLED"
)

// Outcome is the end of a session.
type Outcome struct {
	Status string // api.StatusVerified, api.StatusRejected, StatusFailure or StatusCancelled
	Reason string // empty when verified
}

// Candidate is a frame worth uploading: exactly one good face.
type Candidate struct {
	Frame   capture.Frame
	Face    inference.Face
	Passing bool    // also passed local liveness
	Rank    float64 // 0–1, see rank
}

// State is a session. The zero value is not ready: start from New. States
// are values; Next never mutates the Candidate a State points to.
type State struct {
	Config Config

	Phase         Phase
	ID            string // session id, chosen by the agent
	CorrelationID string
	Started       time.Time
	Finished      time.Time
	Outcome       Outcome

	// Round counts capture rounds in this session, from 1.
	Round int
	// Gen identifies the current capture round; camera and analysis results
	// from another round are ignored.
	Gen uint64
	// LocalFailures counts rounds without a usable face since the last upload.
	LocalFailures int
	// Uploads counts submissions the gateway accepted.
	Uploads int
	// MaybeSubmitted is set once an upload of this session was accepted, or
	// may have reached the gateway: a try failed temporarily (a timeout
	// can hide an answer that was lost) or was stored in the offline
	// spool. A 409 flow_final / attempts_exhausted may then be this
	// session's own doing, so the status is polled for the verdict;
	// without it the session fails with FLOW_FINAL / ATTEMPTS_EXHAUSTED
	// rather than adopt a verdict about an older capture.
	MaybeSubmitted bool
	// AttemptsLeft is the gateway's last attempts_left; -1 until known.
	AttemptsLeft int

	// Capture round.
	Analyzed int // frames analysed this round
	Streak   int // consecutive passing frames
	Best     *Candidate
	// Extras are the next-best one-face frames of the round, best first,
	// at most MaxExtras; RoundLive their liveness fused with every other
	// one-face frame's (roundfusion.go).
	Extras        []*Candidate
	RoundLive     RoundLiveness
	NoFace        int // frames per local failure this round
	MultipleFaces int
	LowQuality    int
	analyzeAt     time.Time // NotBefore of the last analysis request
	restSkipped   bool      // the round's one duty rest skipped (Config.AnalyzeDuty)
	analyzeErrors int
	lastSeq       uint64 // Seq of the last analysed frame
	endSeq        uint64 // last frame the camera will deliver; 0 if streaming
	// Guidance is the code for the last analysed frame of this round
	// (guidance.go), "" before the first; Progress is 0–100 toward
	// PassFrames consecutive passing frames.
	Guidance string
	Progress int
	guideBox *inference.Box // subject box of the last analysed frame

	// Upload.
	Upload    *Candidate // being uploaded
	UploadKey string
	UploadTry int // tries made, from 1
	// Queued: the upload waits in the offline spool, which reports its
	// outcome as UploadDone or UploadFailed; no retry timer runs meanwhile.
	Queued bool

	// Polling.
	pollFailures int
}

// New returns an idle session with the given policy.
func New(cfg Config) State {
	return State{Config: cfg, Phase: Idle, AttemptsLeft: -1}
}

// Active reports whether a session is running (not idle or done).
func (s State) Active() bool { return s.Phase != Idle && s.Phase != Done }

// Event is an input of Next.
type Event interface{ event() }

// Start begins a session.
type Start struct {
	ID, CorrelationID string
}

// FrameAnalyzed is the result of an AnalyzeFrame action. Err is a runtime
// failure of the analyzer (not "no face").
type FrameAnalyzed struct {
	Gen      uint64
	Frame    capture.Frame
	Analysis inference.Analysis
	Err      error
	// Took is how long the analysis ran (for Config.AnalyzeDuty), on the
	// executor's clock.
	Took time.Duration
}

// CameraFailed: the camera could not be opened.
type CameraFailed struct {
	Gen uint64
	Err error
}

// CameraLost: the camera disappeared mid-capture (capture.ErrDeviceLost).
type CameraLost struct {
	Gen uint64
	Err error
}

// CameraEnded: the source ended normally (a replay without loop) after
// delivering frames up to LastSeq (0: none).
type CameraEnded struct {
	Gen     uint64
	LastSeq uint64
}

// Timer fires a timer set by SetTimer.
type Timer struct{ Kind TimerKind }

// UploadDone: the gateway accepted the submission.
type UploadDone struct{ Response api.SubmissionResponse }

// UploadFailed: the submission failed; Class is uplink.Classify(Err).
type UploadFailed struct {
	Class uplink.Class
	Err   error
}

// UploadQueued: the submission with Key could not be delivered now and is
// stored in the offline spool, which delivers it later and then reports
// UploadDone or UploadFailed (for the same Key). Reason is the spool's
// reason, e.g. "gateway_unreachable" or "clock_unsynced".
type UploadQueued struct {
	Key    string
	Reason string
}

// StatusResult is the gateway's answer to a status poll.
type StatusResult struct{ Response api.StatusResponse }

// StatusFailed: a status poll failed; Class is uplink.Classify(Err).
type StatusFailed struct {
	Class uplink.Class
	Err   error
}

// Cancel stops the session; Reason defaults to CANCELLED.
type Cancel struct{ Reason string }

func (Start) event()         {}
func (FrameAnalyzed) event() {}
func (CameraFailed) event()  {}
func (CameraLost) event()    {}
func (CameraEnded) event()   {}
func (Timer) event()         {}
func (UploadDone) event()    {}
func (UploadFailed) event()  {}
func (UploadQueued) event()  {}
func (StatusResult) event()  {}
func (StatusFailed) event()  {}
func (Cancel) event()        {}

// TimerKind names one of the session's timers; setting a kind again
// replaces its previous deadline.
type TimerKind string

// Timers.
const (
	TimerDeadline    TimerKind = "deadline"     // whole session
	TimerCapture     TimerKind = "capture"      // end of the capture window
	TimerUploadRetry TimerKind = "upload_retry" // next upload try
	TimerPoll        TimerKind = "poll"         // next status poll
	TimerHold        TimerKind = "hold"         // result light back to idle
)

// Action is an output of Next, performed by the agent's executor.
type Action interface{ action() }

// OpenCamera opens the camera and streams frames tagged with Gen.
type OpenCamera struct{ Gen uint64 }

// CloseCamera stops the capture round: closes the camera and abandons any
// analysis in flight.
type CloseCamera struct{}

// AnalyzeFrame analyses the newest frame of round Gen, not starting before
// NotBefore, and reports FrameAnalyzed.
type AnalyzeFrame struct {
	Gen       uint64
	NotBefore time.Time
}

// Upload crops Candidate's face, encodes it and submits it with Key (the
// same key on every try of one attempt), then reports UploadDone or
// UploadFailed.
type Upload struct {
	Candidate *Candidate
	// Extras are other frames of the round, uploaded as extra images
	// (SubmissionRequest.SelfieExtra); Liveness is the round's fused
	// probability live (RoundLiveness), −1 when unknown.
	Extras   []*Candidate
	Liveness float64
	Key      string
	Try      int
}

// PollStatus asks the gateway for the status, as a long poll of Wait when
// it is positive (uplink.StatusWaiter), then reports StatusResult or
// StatusFailed.
type PollStatus struct{ Wait time.Duration }

// SetTimer arms (or re-arms) timer Kind to fire at At.
type SetTimer struct {
	Kind TimerKind
	At   time.Time
}

// CancelTimer disarms timer Kind.
type CancelTimer struct{ Kind TimerKind }

// SetLED shows State on the lights.
type SetLED struct{ State led.State }

// Publish reports a change of state for fleet monitoring.
type Publish struct {
	State   string // a Phase name or a final status in lowercase
	Reason  string // final states only
	Attempt int
	// NextAction is the gateway's answer (api.ActionRetry, api.ActionExit)
	// that caused this change; empty when the agent changed state itself.
	NextAction string
}

// Finish ends the session with Outcome.
type Finish struct{ Outcome Outcome }

// Guide reports a change of the guidance code or progress while capturing
// (shown on the kiosk screens and published as a progress event).
type Guide struct {
	Code     string // a Guide* code
	Progress int    // 0–100
	Attempt  int
}

func (OpenCamera) action()   {}
func (CloseCamera) action()  {}
func (AnalyzeFrame) action() {}
func (Upload) action()       {}
func (PollStatus) action()   {}
func (SetTimer) action()     {}
func (CancelTimer) action()  {}
func (SetLED) action()       {}
func (Publish) action()      {}
func (Finish) action()       {}
func (Guide) action()        {}

// Next applies ev at time now and returns the new state and the actions to
// perform, in order. Events that do not apply to the current phase (late
// results of an abandoned round, a second Start) are ignored: the state is
// returned unchanged with no actions.
func Next(s State, ev Event, now time.Time) (State, []Action) {
	switch ev := ev.(type) {
	case Start:
		if s.Active() {
			return s, nil
		}
		return start(s, ev, now)
	case Cancel:
		if !s.Active() {
			return s, nil
		}
		reason := ev.Reason
		if reason == "" {
			reason = ReasonCancelled
		}
		return finish(s, Outcome{Status: StatusCancelled, Reason: reason}, now)
	case Timer:
		return timer(s, ev.Kind, now)
	case FrameAnalyzed:
		if s.Phase != Capturing || ev.Gen != s.Gen {
			return s, nil
		}
		return analyzed(s, ev, now)
	case CameraFailed:
		if s.Phase != Capturing || ev.Gen != s.Gen {
			return s, nil
		}
		return finish(s, Outcome{Status: StatusFailure, Reason: ReasonCameraError}, now)
	case CameraLost:
		if s.Phase != Capturing || ev.Gen != s.Gen {
			return s, nil
		}
		return finish(s, Outcome{Status: StatusFailure, Reason: ReasonCameraLost}, now)
	case CameraEnded:
		if s.Phase != Capturing || ev.Gen != s.Gen {
			return s, nil
		}
		if ev.LastSeq == 0 || s.lastSeq >= ev.LastSeq {
			return endCapture(s, now)
		}
		s.endSeq = ev.LastSeq
		return s, nil
	case UploadDone:
		if s.Phase != Uploading {
			return s, nil
		}
		return uploaded(s, ev, now)
	case UploadFailed:
		if s.Phase != Uploading {
			return s, nil
		}
		return uploadFailed(s, ev, now)
	case UploadQueued:
		if s.Phase != Uploading || ev.Key != s.UploadKey || s.Queued {
			return s, nil
		}
		s.Queued = true
		s.MaybeSubmitted = true
		return s, []Action{
			CancelTimer{TimerUploadRetry},
			SetLED{led.Degraded},
			Publish{State: StateQueued, Reason: ev.Reason, Attempt: s.Round},
		}
	case StatusResult:
		if s.Phase != Processing {
			return s, nil
		}
		return status(s, ev.Response, now)
	case StatusFailed:
		if s.Phase != Processing {
			return s, nil
		}
		return statusFailed(s, ev, now)
	}
	return s, nil
}

func start(s State, ev Start, now time.Time) (State, []Action) {
	gen := s.Gen
	s = New(s.Config)
	s.Gen = gen
	s.ID, s.CorrelationID = ev.ID, ev.CorrelationID
	s.Started = now
	s.Round = 1
	acts := []Action{
		CancelTimer{TimerHold},
		SetTimer{TimerDeadline, now.Add(s.Config.Timeout)},
	}
	return beginCapture(s, now, acts)
}

// beginCapture starts a capture round (s.Round already set).
func beginCapture(s State, now time.Time, acts []Action) (State, []Action) {
	s.Phase = Capturing
	s.Gen++
	s.Analyzed, s.Streak, s.Best = 0, 0, nil
	s.Extras, s.RoundLive = nil, RoundLiveness{}
	s.NoFace, s.MultipleFaces, s.LowQuality = 0, 0, 0
	s.analyzeErrors, s.lastSeq, s.endSeq = 0, 0, 0
	s.restSkipped = false
	s.Guidance, s.Progress, s.guideBox = "", 0, nil
	s.analyzeAt = now
	s.Upload, s.UploadKey, s.UploadTry = nil, "", 0
	return s, append(acts,
		SetLED{led.Capturing},
		Publish{State: string(Capturing), Attempt: s.Round},
		OpenCamera{Gen: s.Gen},
		SetTimer{TimerCapture, now.Add(s.Config.CaptureWindow)},
		AnalyzeFrame{Gen: s.Gen, NotBefore: now},
	)
}

func timer(s State, kind TimerKind, now time.Time) (State, []Action) {
	switch {
	case kind == TimerHold && !s.Active():
		return s, []Action{SetLED{led.Idle}}
	case kind == TimerDeadline && s.Active():
		if s.Phase == Uploading && s.Queued {
			return finish(s, Outcome{Status: StatusFailure, Reason: ReasonUploadQueued}, now)
		}
		return finish(s, Outcome{Status: StatusFailure, Reason: ReasonSessionTimeout}, now)
	case kind == TimerCapture && s.Phase == Capturing:
		return endCapture(s, now)
	case kind == TimerUploadRetry && s.Phase == Uploading && !s.Queued:
		s.UploadTry++
		return s, []Action{
			SetLED{led.Processing},
			s.uploadAction(),
		}
	case kind == TimerPoll && s.Phase == Processing:
		return s, []Action{PollStatus{Wait: s.Config.StatusWait}}
	}
	return s, nil
}

func analyzed(s State, ev FrameAnalyzed, now time.Time) (State, []Action) {
	if ev.Err != nil {
		s.analyzeErrors++
		if s.analyzeErrors >= maxAnalyzeErrors {
			return finish(s, Outcome{Status: StatusFailure, Reason: ReasonAnalyzerError}, now)
		}
		return requestAnalysis(s, now, ev.Took)
	}
	s.analyzeErrors = 0
	s.Analyzed++
	if ev.Frame.Seq > s.lastSeq {
		s.lastSeq = ev.Frame.Seq
	}
	a := ev.Analysis
	var face *inference.Face
	if a.Subject >= 0 && a.Subject < len(a.Faces) {
		face = &a.Faces[a.Subject]
	}
	switch {
	case face != nil && (a.Decision == inference.DecisionOK || a.Decision == inference.DecisionLivenessFailed):
		c := &Candidate{
			Frame:   ev.Frame,
			Face:    *face,
			Passing: a.Decision == inference.DecisionOK && face.Live,
		}
		c.Rank = rank(c.Face)
		if c.Passing {
			s.Streak++
		} else {
			s.Streak = 0
		}
		s = keepCandidate(s, c)
	case a.Decision == inference.DecisionMultipleFaces:
		s.MultipleFaces++
		s.Streak = 0
	case a.Decision == inference.DecisionLowQuality:
		s.LowQuality++
		s.Streak = 0
	default: // NO_FACE, or an analysis without a usable subject
		s.NoFace++
		s.Streak = 0
	}
	var acts []Action
	var box *inference.Box
	if face != nil {
		b := face.Box
		box = &b
	}
	code, progress := GuideFor(a, s.guideBox, s.Config.Guide), Progress(s.Streak, s.Config.PassFrames)
	s.guideBox = box
	if code != s.Guidance || progress != s.Progress {
		s.Guidance, s.Progress = code, progress
		acts = append(acts, Guide{Code: code, Progress: progress, Attempt: s.Round})
	}
	if s.Streak >= s.Config.PassFrames {
		s, more := endCapture(s, now)
		return s, append(acts, more...)
	}
	if s.endSeq != 0 && s.lastSeq >= s.endSeq {
		s, more := endCapture(s, now)
		return s, append(acts, more...)
	}
	rest := ev.Took
	if s.Streak > 0 && s.Streak == s.Config.PassFrames-1 && !s.restSkipped {
		// The next passing frame ends the round: no duty rest before it.
		s.restSkipped, rest = true, 0
	}
	s, more := requestAnalysis(s, now, rest)
	return s, append(acts, more...)
}

// requestAnalysis asks for the next frame's analysis after one that ended
// at now and took took: at once, but no sooner than AnalyzeInterval after
// the previous start and than the rest AnalyzeDuty asks for. The camera's
// frame rate bounds it too: each frame is analysed at most once, so the
// analysis waits for a new frame.
func requestAnalysis(s State, now time.Time, took time.Duration) (State, []Action) {
	at := s.analyzeAt.Add(s.Config.AnalyzeInterval)
	if d := s.Config.AnalyzeDuty; d > 0 && d < 1 && took > 0 {
		at = latest(at, now.Add(time.Duration(float64(took)*(1-d)/d)))
	}
	at = latest(at, now)
	s.analyzeAt = at
	return s, []Action{AnalyzeFrame{Gen: s.Gen, NotBefore: at}}
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// rank scores a one-face frame in [0,1]: 0.4 face size (saturating at 160
// px, the liveness model's comfortable input), 0.3 sharpness (saturating at
// a Laplacian variance of 300) and 0.3 liveness probability.
func rank(f inference.Face) float64 {
	size := min(max(f.Quality.FaceSize/160, 0), 1)
	sharp := min(max(f.Quality.Sharpness/300, 0), 1)
	live := min(max(f.Liveness, 0), 1)
	return 0.4*size + 0.3*sharp + 0.3*live
}

// better reports whether c should replace best: passing frames beat
// failing ones, then the higher rank wins (ties keep the earlier frame).
func better(c, best *Candidate) bool {
	if best == nil {
		return true
	}
	if c.Passing != best.Passing {
		return c.Passing
	}
	return c.Rank > best.Rank
}

// endCapture closes the round: upload the best frame, or capture again, or
// give up locally.
func endCapture(s State, now time.Time) (State, []Action) {
	acts := []Action{CloseCamera{}, CancelTimer{TimerCapture}}
	s.Gen++ // results still in flight belong to a closed round
	if s.Best != nil {
		return startUpload(s, now, acts)
	}
	reason := localReason(s)
	s.LocalFailures++
	if s.LocalFailures >= s.Config.LocalAttempts {
		s, fin := finish(s, Outcome{Status: StatusFailure, Reason: reason}, now)
		return s, append(acts, fin...)
	}
	s.Round++
	return beginCapture(s, now, acts)
}

// localReason names the most frequent local failure of the round; ties go
// to the more specific reason.
func localReason(s State) string {
	reason, n := api.ReasonNoFace, s.NoFace
	if s.LowQuality > 0 && s.LowQuality >= n {
		reason, n = api.ReasonLowQuality, s.LowQuality
	}
	if s.MultipleFaces > 0 && s.MultipleFaces >= n {
		reason = api.ReasonMultipleFaces
	}
	return reason
}

func startUpload(s State, now time.Time, acts []Action) (State, []Action) {
	s.Phase = Uploading
	s.Upload = s.Best
	s.Best = nil
	s.UploadKey = fmt.Sprintf("%s-%d", s.ID, s.Round)
	s.UploadTry = 1
	s.Queued = false
	return s, append(acts,
		SetLED{led.Processing},
		Publish{State: string(Uploading), Attempt: s.Round},
		s.uploadAction(),
	)
}

func uploaded(s State, ev UploadDone, now time.Time) (State, []Action) {
	s.Phase = Processing
	s.Uploads++
	s.MaybeSubmitted = true
	s.Upload, s.Extras = nil, nil // free the frames
	s.Queued = false
	s.LocalFailures = 0
	s.pollFailures = 0
	acts := []Action{
		CancelTimer{TimerUploadRetry},
		SetLED{led.Processing},
		Publish{State: string(Processing), Attempt: s.Round},
	}
	if s.Config.PollInitial > 0 {
		return s, append(acts, SetTimer{TimerPoll, now.Add(s.Config.PollInitial)})
	}
	// The first status call goes out with the upload's answer.
	return s, append(acts, PollStatus{Wait: s.Config.StatusWait})
}

func uploadFailed(s State, ev UploadFailed, now time.Time) (State, []Action) {
	switch ev.Class {
	case uplink.ClassExpired:
		return finish(s, Outcome{Status: StatusFailure, Reason: ReasonTokenExpired}, now)
	case uplink.ClassUnauthorized:
		return finish(s, Outcome{Status: StatusFailure, Reason: unauthorizedReason(ev.Err)}, now)
	case uplink.ClassConflict:
		if !s.MaybeSubmitted {
			// Nothing of this session reached the gateway: the flow's
			// verdict is about an older capture and must not be shown
			// for this one.
			switch uplink.ErrorCode(ev.Err) {
			case api.CodeFlowFinal:
				return finish(s, Outcome{Status: StatusFailure, Reason: ReasonFlowFinal}, now)
			case api.CodeAttemptsExhausted:
				return finish(s, Outcome{Status: StatusFailure, Reason: api.ReasonAttemptsExhausted}, now)
			}
		}
		// The flow takes no more submissions, maybe because an earlier try
		// of this session got through; its status tells the outcome.
		s.Phase = Processing
		s.Upload, s.Extras = nil, nil
		s.Queued = false // the spool, if it held the upload, is done with it
		s.pollFailures = 0
		return s, []Action{
			Publish{State: string(Processing), Attempt: s.Round},
			SetTimer{TimerPoll, now},
		}
	case uplink.ClassTemporary, uplink.ClassCanceled:
		s.MaybeSubmitted = true // the request may have reached the gateway
		if s.UploadTry > s.Config.UploadRetries {
			return finish(s, Outcome{Status: StatusFailure, Reason: ReasonUploadFailed}, now)
		}
		return s, []Action{
			SetLED{led.Degraded},
			SetTimer{TimerUploadRetry, now.Add(backoff(s.Config, s.UploadTry))},
		}
	}
	return finish(s, Outcome{Status: StatusFailure, Reason: ReasonUploadRejected}, now)
}

// unauthorizedReason names a 401/403 refusal by the gateway's error code:
// the device signature (not enrolled, revoked, rejected, clock skew) or
// else the user token (INVALID_TOKEN).
func unauthorizedReason(err error) string {
	switch uplink.ErrorCode(err) {
	case api.CodeUnknownDevice:
		return ReasonDeviceNotEnrolled
	case api.CodeRevokedDevice:
		return ReasonDeviceRevoked
	case api.CodeBadSignature, api.CodeSignatureRequired:
		return ReasonSignatureRejected
	case api.CodeClockSkew:
		return ReasonClockSkew
	}
	return ReasonInvalidToken
}

// backoff is RetryBackoff·2^(n−1), at most RetryBackoffMax (n ≥ 1).
func backoff(cfg Config, n int) time.Duration {
	d := cfg.RetryBackoff
	for i := 1; i < n && d < cfg.RetryBackoffMax; i++ {
		d *= 2
	}
	return min(d, cfg.RetryBackoffMax)
}

// PollDelay clamps the gateway's retry_after_ms to [PollMin, PollMax].
func PollDelay(cfg Config, retryAfterMS int) time.Duration {
	d := time.Duration(retryAfterMS) * time.Millisecond
	return min(max(d, cfg.PollMin), cfg.PollMax)
}

func status(s State, r api.StatusResponse, now time.Time) (State, []Action) {
	s.AttemptsLeft = r.AttemptsLeft
	switch r.NextAction {
	case api.ActionStatus:
		s.pollFailures = 0
		if r.Waited {
			// A long poll ended without a change: wait again at once.
			return s, []Action{SetLED{led.Processing}, PollStatus{Wait: s.Config.StatusWait}}
		}
		// A gateway without long polls (or shutting down): poll later.
		return s, []Action{
			SetLED{led.Processing},
			SetTimer{TimerPoll, now.Add(PollDelay(s.Config, r.RetryAfterMS))},
		}
	case api.ActionRetry:
		s.Round++
		s.LocalFailures = 0
		return answeredBy(api.ActionRetry)(beginCapture(s, now, nil))
	case api.ActionExit:
		if r.Status == api.StatusExpired { // the flow's user token expired without a decision
			return answeredBy(api.ActionExit)(finish(s, Outcome{Status: StatusFailure, Reason: ReasonTokenExpired}, now))
		}
		if r.Status != api.StatusVerified && r.Status != api.StatusRejected {
			return answeredBy(api.ActionExit)(finish(s, Outcome{Status: StatusFailure, Reason: ReasonGatewayError}, now))
		}
		return answeredBy(api.ActionExit)(finish(s, Outcome{Status: r.Status, Reason: r.Reason}, now))
	}
	// Unknown next_action: count it as a failed poll.
	return statusFailed(s, StatusFailed{Class: uplink.ClassTemporary}, now)
}

// answeredBy marks the Publish actions of a state change the gateway's
// next action caused, so fleet monitoring sees RETRY and EXIT as they
// happen.
func answeredBy(next string) func(State, []Action) (State, []Action) {
	return func(s State, acts []Action) (State, []Action) {
		for i, a := range acts {
			if p, ok := a.(Publish); ok {
				p.NextAction = next
				acts[i] = p
			}
		}
		return s, acts
	}
}

func statusFailed(s State, ev StatusFailed, now time.Time) (State, []Action) {
	switch ev.Class {
	case uplink.ClassExpired:
		return finish(s, Outcome{Status: StatusFailure, Reason: ReasonTokenExpired}, now)
	case uplink.ClassUnauthorized:
		return finish(s, Outcome{Status: StatusFailure, Reason: unauthorizedReason(ev.Err)}, now)
	case uplink.ClassPermanent, uplink.ClassConflict:
		return finish(s, Outcome{Status: StatusFailure, Reason: ReasonGatewayError}, now)
	}
	s.pollFailures++
	if s.pollFailures > s.Config.PollFailures {
		return finish(s, Outcome{Status: StatusFailure, Reason: ReasonGatewayUnavailable}, now)
	}
	return s, []Action{
		SetLED{led.Degraded},
		SetTimer{TimerPoll, now.Add(backoff(s.Config, s.pollFailures))},
	}
}

func finish(s State, o Outcome, now time.Time) (State, []Action) {
	var acts []Action
	if s.Phase == Capturing {
		acts = append(acts, CloseCamera{})
		s.Gen++
	}
	s.Phase = Done
	s.Outcome = o
	s.Finished = now
	s.Best, s.Upload, s.Extras = nil, nil, nil
	light := led.Failure
	if o.Status == api.StatusVerified {
		light = led.Success
	}
	reason := o.Reason
	if o.Status == api.StatusVerified {
		reason = ""
	}
	acts = append(acts,
		CancelTimer{TimerDeadline},
		CancelTimer{TimerCapture},
		CancelTimer{TimerUploadRetry},
		CancelTimer{TimerPoll},
		SetLED{light},
		Publish{State: FinalState(o.Status), Reason: reason, Attempt: s.Round},
		SetTimer{TimerHold, now.Add(s.Config.ResultHold)},
		Finish{Outcome: o},
	)
	return s, acts
}

// FinalState is the progress-event state of a final status: "verified",
// "rejected", "failed" or "cancelled".
func FinalState(status string) string {
	switch status {
	case api.StatusVerified:
		return "verified"
	case api.StatusRejected:
		return "rejected"
	case StatusCancelled:
		return "cancelled"
	}
	return "failed"
}
