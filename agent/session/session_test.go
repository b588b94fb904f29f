package session

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/uplink"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func testConfig() Config {
	c := DefaultConfig()
	c.CaptureWindow = 5 * time.Second
	c.AnalyzeInterval = 200 * time.Millisecond
	c.PassFrames = 2
	c.LocalAttempts = 2
	c.Timeout = time.Minute
	c.UploadRetries = 2
	c.RetryBackoff = time.Second
	c.RetryBackoffMax = 4 * time.Second
	c.PollInitial = 500 * time.Millisecond
	c.PollMin = 250 * time.Millisecond
	c.PollMax = 3 * time.Second
	c.PollFailures = 2
	return c
}

// Frames as the analyzer would report them.
func face(live bool, size float64) inference.Face {
	l := 0.9
	if !live {
		l = 0.1
	}
	return inference.Face{Box: inference.Box{X: 100, Y: 100, W: size, H: size}, Score: 0.99, Liveness: l, Live: live,
		Quality: inference.Quality{FaceSize: size, Sharpness: 200, Brightness: 120}}
}

func good(size float64) inference.Analysis {
	return inference.Analysis{Width: 640, Height: 480, Faces: []inference.Face{face(true, size)}, Decision: inference.DecisionOK, Subject: 0}
}

func spoof(size float64) inference.Analysis {
	return inference.Analysis{Width: 640, Height: 480, Faces: []inference.Face{face(false, size)}, Decision: inference.DecisionLivenessFailed, Subject: 0}
}

func decision(d inference.Decision) inference.Analysis {
	a := inference.Analysis{Width: 640, Height: 480, Decision: d, Subject: -1}
	if d == inference.DecisionMultipleFaces {
		a.Faces = []inference.Face{face(true, 100), face(true, 90)}
	}
	return a
}

// step is one event at an offset from t0. gen, when 0, is filled with the
// state's current Gen for frame and camera events.
type step struct {
	at time.Duration
	ev Event
}

func frame(seq uint64, a inference.Analysis) FrameAnalyzed {
	return FrameAnalyzed{Frame: capture.Frame{Seq: seq}, Analysis: a}
}

func statusResp(status, next, reason string, retryMS, left int) StatusResult {
	return StatusResult{Response: api.StatusResponse{Status: status, NextAction: next, Reason: reason, RetryAfterMS: retryMS, AttemptsLeft: left}}
}

func run(t *testing.T, steps []step) (State, [][]Action) {
	t.Helper()
	s := New(testConfig())
	var all [][]Action
	for _, st := range steps {
		ev := st.ev
		switch e := ev.(type) {
		case FrameAnalyzed:
			if e.Gen == 0 {
				e.Gen = s.Gen
			}
			ev = e
		case CameraLost:
			if e.Gen == 0 {
				e.Gen = s.Gen
			}
			ev = e
		case CameraEnded:
			if e.Gen == 0 {
				e.Gen = s.Gen
			}
			ev = e
		case CameraFailed:
			if e.Gen == 0 {
				e.Gen = s.Gen
			}
			ev = e
		}
		var acts []Action
		s, acts = Next(s, ev, t0.Add(st.at))
		all = append(all, acts)
	}
	return s, all
}

func flat(all [][]Action) []Action {
	var out []Action
	for _, a := range all {
		out = append(out, a...)
	}
	return out
}

func count[T Action](acts []Action) int {
	n := 0
	for _, a := range acts {
		if _, ok := a.(T); ok {
			n++
		}
	}
	return n
}

func find[T Action](acts []Action) []T {
	var out []T
	for _, a := range acts {
		if v, ok := a.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func published(acts []Action) []string {
	var out []string
	for _, p := range find[Publish](acts) {
		s := p.State
		if p.Reason != "" {
			s += ":" + p.Reason
		}
		out = append(out, s)
	}
	return out
}

var begin = step{0, Start{ID: "s1", CorrelationID: "c1"}}

// gwErr is a gateway client error as uplink/gateway makes it.
func gwErr(code int, errCode string, cause error) error {
	return &uplink.Error{Op: "submit", StatusCode: code, Code: errCode, Err: cause, Temporary: code == 0}
}

func TestNext(t *testing.T) {
	netErr := errors.New("connection refused")
	cases := []struct {
		name        string
		steps       []step
		wantPhase   Phase
		wantOutcome Outcome
		wantPublish []string
		check       func(t *testing.T, s State, all [][]Action)
	}{
		{
			name: "happy path: two passing frames end capture early, upload, STATUS then EXIT verified",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(150))},
				{900 * time.Millisecond, UploadDone{api.SubmissionResponse{SubmissionID: "sub1", Attempt: 1}}},
				{1400 * time.Millisecond, Timer{TimerPoll}},
				{1500 * time.Millisecond, statusResp(api.StatusProcessing, api.ActionStatus, "", 700, 2)},
				{2200 * time.Millisecond, Timer{TimerPoll}},
				{2300 * time.Millisecond, statusResp(api.StatusVerified, api.ActionExit, "", 0, 2)},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: api.StatusVerified},
			wantPublish: []string{"capturing", "uploading", "processing", "verified"},
			check: func(t *testing.T, s State, all [][]Action) {
				acts := flat(all)
				ups := find[Upload](acts)
				if len(ups) != 1 || ups[0].Key != "s1-1" || ups[0].Try != 1 {
					t.Fatalf("uploads = %+v, want one with key s1-1", ups)
				}
				if ups[0].Candidate.Frame.Seq != 2 || !ups[0].Candidate.Passing {
					t.Errorf("uploaded frame %d passing=%v, want the larger passing frame 2", ups[0].Candidate.Frame.Seq, ups[0].Candidate.Passing)
				}
				if count[CloseCamera](all[2]) != 1 {
					t.Errorf("camera not closed when the second passing frame arrived: %#v", all[2])
				}
				if got := count[PollStatus](acts); got != 2 {
					t.Errorf("polls = %d, want 2", got)
				}
				// STATUS with retry_after_ms=700 re-arms the poll 700 ms later.
				want := SetTimer{TimerPoll, t0.Add(1500*time.Millisecond + 700*time.Millisecond)}
				if !reflect.DeepEqual(all[5][len(all[5])-1], want) {
					t.Errorf("after STATUS got %#v, want %#v", all[5], want)
				}
				leds := find[SetLED](acts)
				if leds[len(leds)-1].State != led.Success {
					t.Errorf("last LED = %v, want success", leds[len(leds)-1].State)
				}
				if s.AttemptsLeft != 2 {
					t.Errorf("AttemptsLeft = %d", s.AttemptsLeft)
				}
			},
		},
		{
			name: "analysis is paced at AnalyzeInterval",
			steps: []step{begin,
				{50 * time.Millisecond, frame(1, decision(inference.DecisionNoFace))},
				{600 * time.Millisecond, frame(2, decision(inference.DecisionNoFace))},
			},
			wantPhase: Capturing,
			check: func(t *testing.T, s State, all [][]Action) {
				a0 := find[AnalyzeFrame](all[0])
				a1 := find[AnalyzeFrame](all[1])
				a2 := find[AnalyzeFrame](all[2])
				if len(a0) != 1 || !a0[0].NotBefore.Equal(t0) {
					t.Fatalf("first request %+v", a0)
				}
				if len(a1) != 1 || !a1[0].NotBefore.Equal(t0.Add(200*time.Millisecond)) {
					t.Errorf("second request not before %v, want t0+200ms", a1)
				}
				if len(a2) != 1 || !a2[0].NotBefore.Equal(t0.Add(600*time.Millisecond)) {
					t.Errorf("late result: next request %v, want now (t0+600ms)", a2)
				}
			},
		},
		{
			name: "RETRY from the gateway captures again and uploads with a new key",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadDone{}},
				{time.Second, Timer{TimerPoll}},
				{1100 * time.Millisecond, statusResp(api.StatusProcessing, api.ActionRetry, api.ReasonLivenessFailed, 0, 1)},
				{1300 * time.Millisecond, frame(1, good(120))},
				{1500 * time.Millisecond, frame(2, good(120))},
				{1600 * time.Millisecond, UploadDone{}},
				{2100 * time.Millisecond, Timer{TimerPoll}},
				{2200 * time.Millisecond, statusResp(api.StatusRejected, api.ActionExit, api.ReasonLivenessFailed, 0, 0)},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: api.StatusRejected, Reason: api.ReasonLivenessFailed},
			wantPublish: []string{"capturing", "uploading", "processing", "capturing", "uploading", "processing", "rejected:LIVENESS_FAILED"},
			check: func(t *testing.T, s State, all [][]Action) {
				ups := find[Upload](flat(all))
				if len(ups) != 2 || ups[0].Key == ups[1].Key || ups[1].Key != "s1-2" {
					t.Fatalf("uploads %+v: want two with distinct keys s1-1, s1-2", ups)
				}
				if count[OpenCamera](all[5]) != 1 {
					t.Errorf("RETRY did not reopen the camera: %#v", all[5])
				}
				if s.Round != 2 || s.Uploads != 2 {
					t.Errorf("round %d uploads %d, want 2, 2", s.Round, s.Uploads)
				}
			},
		},
		{
			name: "STATUS retry_after_ms is clamped to the floor and ceiling",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadDone{}},
				{time.Second, Timer{TimerPoll}},
				{time.Second, statusResp(api.StatusProcessing, api.ActionStatus, "", 1, 1)},
				{2 * time.Second, Timer{TimerPoll}},
				{2 * time.Second, statusResp(api.StatusProcessing, api.ActionStatus, "", 60000, 1)},
			},
			wantPhase: Processing,
			check: func(t *testing.T, s State, all [][]Action) {
				floor := find[SetTimer](all[5])
				ceil := find[SetTimer](all[7])
				if len(floor) != 1 || !floor[0].At.Equal(t0.Add(time.Second+250*time.Millisecond)) {
					t.Errorf("1 ms retry: %+v, want floor 250ms", floor)
				}
				if len(ceil) != 1 || !ceil[0].At.Equal(t0.Add(2*time.Second+3*time.Second)) {
					t.Errorf("60 s retry: %+v, want ceiling 3s", ceil)
				}
			},
		},
		{
			name: "capture window ends without a face: local retry, nothing uploaded",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, decision(inference.DecisionNoFace))},
				{400 * time.Millisecond, frame(2, decision(inference.DecisionMultipleFaces))},
				{600 * time.Millisecond, frame(3, decision(inference.DecisionMultipleFaces))},
				{5 * time.Second, Timer{TimerCapture}},
			},
			wantPhase:   Capturing,
			wantPublish: []string{"capturing", "capturing"},
			check: func(t *testing.T, s State, all [][]Action) {
				last := all[len(all)-1]
				if count[Upload](flat(all)) != 0 {
					t.Error("a local failure was uploaded")
				}
				if count[CloseCamera](last) != 1 || count[OpenCamera](last) != 1 {
					t.Errorf("window end should close and reopen the camera: %#v", last)
				}
				if s.Round != 2 || s.LocalFailures != 1 {
					t.Errorf("round %d local failures %d, want 2, 1", s.Round, s.LocalFailures)
				}
			},
		},
		{
			name: "local attempts exhausted: fail with the most frequent local reason",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, decision(inference.DecisionLowQuality))},
				{5 * time.Second, Timer{TimerCapture}},
				{5200 * time.Millisecond, frame(1, decision(inference.DecisionLowQuality))},
				{5400 * time.Millisecond, frame(2, decision(inference.DecisionNoFace))},
				{5600 * time.Millisecond, frame(3, decision(inference.DecisionLowQuality))},
				{10 * time.Second, Timer{TimerCapture}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: api.ReasonLowQuality},
			wantPublish: []string{"capturing", "capturing", "failed:LOW_QUALITY"},
			check: func(t *testing.T, s State, all [][]Action) {
				if count[Upload](flat(all)) != 0 {
					t.Error("a local failure was uploaded")
				}
			},
		},
		{
			name: "liveness-failed frame is still uploaded with live=false",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, decision(inference.DecisionNoFace))},
				{400 * time.Millisecond, frame(2, spoof(130))},
				{600 * time.Millisecond, frame(3, spoof(110))},
				{5 * time.Second, Timer{TimerCapture}},
			},
			wantPhase:   Uploading,
			wantPublish: []string{"capturing", "uploading"},
			check: func(t *testing.T, s State, all [][]Action) {
				ups := find[Upload](all[len(all)-1])
				if len(ups) != 1 {
					t.Fatalf("no upload at window end: %#v", all[len(all)-1])
				}
				c := ups[0].Candidate
				if c.Passing || c.Face.Live || c.Frame.Seq != 2 {
					t.Errorf("uploaded %+v, want the larger non-live frame 2", c)
				}
			},
		},
		{
			name: "a passing frame beats a larger spoof frame",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, spoof(300))},
				{400 * time.Millisecond, frame(2, good(60))},
				{600 * time.Millisecond, frame(3, spoof(300))},
				{5 * time.Second, Timer{TimerCapture}},
			},
			wantPhase: Uploading,
			check: func(t *testing.T, s State, all [][]Action) {
				ups := find[Upload](all[len(all)-1])
				if len(ups) != 1 || ups[0].Candidate.Frame.Seq != 2 || !ups[0].Candidate.Passing {
					t.Fatalf("uploads %+v, want passing frame 2", ups)
				}
			},
		},
		{
			name:        "camera lost mid-capture",
			steps:       []step{begin, {200 * time.Millisecond, frame(1, good(120))}, {300 * time.Millisecond, CameraLost{Err: capture.ErrDeviceLost}}},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonCameraLost},
			wantPublish: []string{"capturing", "failed:CAMERA_LOST"},
			check: func(t *testing.T, s State, all [][]Action) {
				last := all[len(all)-1]
				if count[CloseCamera](last) != 1 || count[Finish](last) != 1 || count[Upload](last) != 0 {
					t.Errorf("actions %#v", last)
				}
			},
		},
		{
			name:        "camera fails to open",
			steps:       []step{begin, {10 * time.Millisecond, CameraFailed{Err: errors.New("no such device")}}},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonCameraError},
		},
		{
			name: "camera lost from a closed round is ignored",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, CameraLost{Gen: 1, Err: capture.ErrDeviceLost}},
			},
			wantPhase: Uploading,
		},
		{
			name: "replay ended: round closes once its last frame is analysed",
			steps: []step{begin,
				{10 * time.Millisecond, CameraEnded{LastSeq: 1}},
				{200 * time.Millisecond, frame(1, spoof(120))},
			},
			wantPhase:   Uploading,
			wantPublish: []string{"capturing", "uploading"},
		},
		{
			name:        "replay ended without frames: local retry at once",
			steps:       []step{begin, {10 * time.Millisecond, CameraEnded{LastSeq: 0}}},
			wantPhase:   Capturing,
			wantPublish: []string{"capturing", "capturing"},
		},
		{
			name: "cancel while processing",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadDone{}},
				{600 * time.Millisecond, Cancel{}},
				{time.Second, Timer{TimerPoll}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusCancelled, Reason: ReasonCancelled},
			wantPublish: []string{"capturing", "uploading", "processing", "cancelled:CANCELLED"},
			check: func(t *testing.T, s State, all [][]Action) {
				if len(all[len(all)-1]) != 0 {
					t.Errorf("poll after cancel produced %#v", all[len(all)-1])
				}
				if count[CancelTimer](all[4]) < 4 {
					t.Errorf("cancel did not disarm the timers: %#v", all[4])
				}
			},
		},
		{
			name:        "cancel while capturing closes the camera",
			steps:       []step{begin, {100 * time.Millisecond, Cancel{Reason: "SHUTDOWN"}}},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusCancelled, Reason: "SHUTDOWN"},
			check: func(t *testing.T, s State, all [][]Action) {
				if count[CloseCamera](all[1]) != 1 {
					t.Errorf("camera left open: %#v", all[1])
				}
			},
		},
		{
			name: "token expired on upload (410)",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassExpired, Err: uplink.ErrTokenExpired}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonTokenExpired},
			wantPublish: []string{"capturing", "uploading", "failed:TOKEN_EXPIRED"},
		},
		{
			name: "invalid token on status poll (401)",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadDone{}},
				{time.Second, Timer{TimerPoll}},
				{1100 * time.Millisecond, StatusFailed{Class: uplink.ClassUnauthorized, Err: uplink.ErrUnauthorized}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonInvalidToken},
		},
		{
			name: "403 unknown_device on upload: DEVICE_NOT_ENROLLED",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassUnauthorized, Err: gwErr(403, api.CodeUnknownDevice, uplink.ErrUnauthorized)}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonDeviceNotEnrolled},
			wantPublish: []string{"capturing", "uploading", "failed:DEVICE_NOT_ENROLLED"},
		},
		{
			name: "403 revoked_device on upload: DEVICE_REVOKED",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassUnauthorized, Err: gwErr(403, api.CodeRevokedDevice, uplink.ErrUnauthorized)}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonDeviceRevoked},
		},
		{
			name: "401 bad_signature on upload: SIGNATURE_REJECTED",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassUnauthorized, Err: gwErr(401, api.CodeBadSignature, uplink.ErrUnauthorized)}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonSignatureRejected},
		},
		{
			name: "401 signature_required on upload: SIGNATURE_REJECTED",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassUnauthorized, Err: gwErr(401, api.CodeSignatureRequired, uplink.ErrUnauthorized)}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonSignatureRejected},
		},
		{
			name: "401 clock_skew on upload: CLOCK_SKEW",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassUnauthorized, Err: gwErr(401, api.CodeClockSkew, uplink.ErrUnauthorized)}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonClockSkew},
		},
		{
			name: "401 invalid_token on upload stays INVALID_TOKEN",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassUnauthorized, Err: gwErr(401, api.CodeInvalidToken, uplink.ErrUnauthorized)}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonInvalidToken},
		},
		{
			name: "410 on upload stays TOKEN_EXPIRED whatever the code",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassExpired, Err: gwErr(410, "token_expired", uplink.ErrTokenExpired)}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonTokenExpired},
		},
		{
			name: "upload retried with backoff on temporary errors, same key, then succeeds",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassTemporary, Err: netErr}},
				{1500 * time.Millisecond, Timer{TimerUploadRetry}},
				{1600 * time.Millisecond, UploadFailed{Class: uplink.ClassTemporary, Err: netErr}},
				{3600 * time.Millisecond, Timer{TimerUploadRetry}},
				{3700 * time.Millisecond, UploadDone{}},
			},
			wantPhase: Processing,
			check: func(t *testing.T, s State, all [][]Action) {
				ups := find[Upload](flat(all))
				if len(ups) != 3 || ups[0].Key != ups[2].Key || ups[2].Try != 3 {
					t.Fatalf("uploads %+v, want 3 tries with one key", ups)
				}
				if r := find[SetTimer](all[3]); len(r) != 1 || !r[0].At.Equal(t0.Add(1500*time.Millisecond)) {
					t.Errorf("first backoff %+v, want 1s", r)
				}
				if r := find[SetTimer](all[5]); len(r) != 1 || !r[0].At.Equal(t0.Add(3600*time.Millisecond)) {
					t.Errorf("second backoff %+v, want 2s", r)
				}
			},
		},
		{
			name: "upload gives up after the configured retries",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassTemporary}},
				{1500 * time.Millisecond, Timer{TimerUploadRetry}},
				{1600 * time.Millisecond, UploadFailed{Class: uplink.ClassTemporary}},
				{3600 * time.Millisecond, Timer{TimerUploadRetry}},
				{3700 * time.Millisecond, UploadFailed{Class: uplink.ClassTemporary}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonUploadFailed},
		},
		{
			name: "upload refused (400) is permanent",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassPermanent}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonUploadRejected},
		},
		{
			name: "upload conflict (409) polls the status for the outcome",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassConflict, Err: uplink.ErrConflict}},
				{500 * time.Millisecond, Timer{TimerPoll}},
				{600 * time.Millisecond, statusResp(api.StatusRejected, api.ActionExit, api.ReasonAttemptsExhausted, 0, 0)},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: api.StatusRejected, Reason: api.ReasonAttemptsExhausted},
		},
		{
			name: "409 flow_final on the first try of a fresh session: FAILED FLOW_FINAL, no poll",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassConflict, Err: gwErr(409, api.CodeFlowFinal, uplink.ErrConflict)}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonFlowFinal},
			wantPublish: []string{"capturing", "uploading", "failed:FLOW_FINAL"},
			check: func(t *testing.T, s State, all [][]Action) {
				for _, st := range find[SetTimer](flat(all)) {
					if st.Kind == TimerPoll {
						t.Errorf("status poll armed: %#v", st)
					}
				}
				if leds := find[SetLED](all[3]); len(leds) != 1 || leds[0].State != led.Failure {
					t.Errorf("lights %#v, want failure", leds)
				}
			},
		},
		{
			name: "409 attempts_exhausted on the first try of a fresh session: FAILED ATTEMPTS_EXHAUSTED",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassConflict, Err: gwErr(409, api.CodeAttemptsExhausted, uplink.ErrConflict)}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: api.ReasonAttemptsExhausted},
		},
		{
			name: "409 flow_final on a retry after a timeout: the first try may have landed, poll the status",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassTemporary, Err: gwErr(0, "", errors.New("context deadline exceeded"))}},
				{1500 * time.Millisecond, Timer{TimerUploadRetry}},
				{1600 * time.Millisecond, UploadFailed{Class: uplink.ClassConflict, Err: gwErr(409, api.CodeFlowFinal, uplink.ErrConflict)}},
				{1600 * time.Millisecond, Timer{TimerPoll}},
				{1700 * time.Millisecond, statusResp(api.StatusVerified, api.ActionExit, "", 0, 2)},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: api.StatusVerified},
			wantPublish: []string{"capturing", "uploading", "processing", "verified"},
		},
		{
			name: "409 flow_final after an earlier round was accepted (RETRY): poll the status",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadDone{}},
				{time.Second, Timer{TimerPoll}},
				{1100 * time.Millisecond, statusResp(api.StatusProcessing, api.ActionRetry, api.ReasonLivenessFailed, 0, 1)},
				{1300 * time.Millisecond, frame(1, good(120))},
				{1500 * time.Millisecond, frame(2, good(120))},
				{1600 * time.Millisecond, UploadFailed{Class: uplink.ClassConflict, Err: gwErr(409, api.CodeFlowFinal, uplink.ErrConflict)}},
				{1600 * time.Millisecond, Timer{TimerPoll}},
				{1700 * time.Millisecond, statusResp(api.StatusRejected, api.ActionExit, api.ReasonLivenessFailed, 0, 0)},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: api.StatusRejected, Reason: api.ReasonLivenessFailed},
		},
		{
			name: "409 with another code (submission_in_progress) on a first try still polls",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadFailed{Class: uplink.ClassConflict, Err: gwErr(409, api.CodeInProgress, uplink.ErrConflict)}},
			},
			wantPhase: Processing,
		},
		{
			name: "status polls failing past the limit",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadDone{}},
				{time.Second, Timer{TimerPoll}},
				{time.Second, StatusFailed{Class: uplink.ClassTemporary}},
				{2 * time.Second, Timer{TimerPoll}},
				{2 * time.Second, StatusFailed{Class: uplink.ClassTemporary}},
				{4 * time.Second, Timer{TimerPoll}},
				{4 * time.Second, StatusFailed{Class: uplink.ClassTemporary}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonGatewayUnavailable},
		},
		{
			name: "EXIT with a non-final status is a gateway error",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadDone{}},
				{time.Second, Timer{TimerPoll}},
				{time.Second, statusResp(api.StatusProcessing, api.ActionExit, "", 0, 0)},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonGatewayError},
		},
		{
			name: "EXIT with EXPIRED is TOKEN_EXPIRED",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadDone{}},
				{time.Second, Timer{TimerPoll}},
				{time.Second, statusResp(api.StatusExpired, api.ActionExit, "", 0, 0)},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonTokenExpired},
		},
		{
			name: "session deadline while polling",
			steps: []step{begin,
				{200 * time.Millisecond, frame(1, good(120))},
				{400 * time.Millisecond, frame(2, good(120))},
				{500 * time.Millisecond, UploadDone{}},
				{time.Minute, Timer{TimerDeadline}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonSessionTimeout},
			check: func(t *testing.T, s State, all [][]Action) {
				want := SetTimer{TimerDeadline, t0.Add(time.Minute)}
				if got := find[SetTimer](all[0]); len(got) == 0 || got[0] != want {
					t.Errorf("deadline armed as %+v, want %+v", got, want)
				}
			},
		},
		{
			name:      "late result of a closed round is ignored",
			steps:     []step{begin, {5 * time.Second, Timer{TimerCapture}}, {5100 * time.Millisecond, FrameAnalyzed{Gen: 1, Frame: capture.Frame{Seq: 9}, Analysis: good(120)}}},
			wantPhase: Capturing,
			check: func(t *testing.T, s State, all [][]Action) {
				if len(all[2]) != 0 || s.Best != nil {
					t.Errorf("stale frame used: %#v", all[2])
				}
			},
		},
		{
			name: "analyzer errors: three in a row fail the session",
			steps: []step{begin,
				{200 * time.Millisecond, FrameAnalyzed{Err: errors.New("ort: run failed")}},
				{400 * time.Millisecond, FrameAnalyzed{Err: errors.New("ort: run failed")}},
				{600 * time.Millisecond, FrameAnalyzed{Err: errors.New("ort: run failed")}},
			},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonAnalyzerError},
		},
		{
			name:      "second begin while running is ignored",
			steps:     []step{begin, {time.Second, Start{ID: "s2", CorrelationID: "c2"}}},
			wantPhase: Capturing,
			check: func(t *testing.T, s State, all [][]Action) {
				if s.ID != "s1" || len(all[1]) != 0 {
					t.Errorf("second begin changed the session: %q %#v", s.ID, all[1])
				}
			},
		},
		{
			name:        "result light returns to idle after the hold",
			steps:       []step{begin, {time.Second, Cancel{}}, {6 * time.Second, Timer{TimerHold}}},
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusCancelled, Reason: ReasonCancelled},
			check: func(t *testing.T, s State, all [][]Action) {
				if !reflect.DeepEqual(all[2], []Action{SetLED{led.Idle}}) {
					t.Errorf("hold: %#v", all[2])
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, all := run(t, tc.steps)
			if s.Phase != tc.wantPhase {
				t.Fatalf("phase = %s, want %s (outcome %+v)", s.Phase, tc.wantPhase, s.Outcome)
			}
			if tc.wantPhase == Done {
				if s.Outcome != tc.wantOutcome {
					t.Errorf("outcome = %+v, want %+v", s.Outcome, tc.wantOutcome)
				}
				fins := find[Finish](flat(all))
				if len(fins) != 1 || fins[0].Outcome != tc.wantOutcome {
					t.Errorf("Finish actions = %+v, want exactly one with %+v", fins, tc.wantOutcome)
				}
			}
			if tc.wantPublish != nil {
				if got := published(flat(all)); !reflect.DeepEqual(got, tc.wantPublish) {
					t.Errorf("published %q, want %q", got, tc.wantPublish)
				}
			}
			if tc.check != nil {
				tc.check(t, s, all)
			}
		})
	}
}

func TestPollDelay(t *testing.T) {
	cfg := testConfig()
	for _, tc := range []struct {
		name string
		ms   int
		want time.Duration
	}{
		{"zero uses the floor", 0, 250 * time.Millisecond},
		{"negative uses the floor", -5, 250 * time.Millisecond},
		{"in range kept", 1200, 1200 * time.Millisecond},
		{"huge clamped", 1 << 30, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PollDelay(cfg, tc.ms); got != tc.want {
				t.Errorf("PollDelay(%d) = %v, want %v", tc.ms, got, tc.want)
			}
		})
	}
}
