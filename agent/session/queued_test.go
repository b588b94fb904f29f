package session

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/uplink"
)

// TestUploadQueued drives the offline-spool path: an upload the spool
// stored (UploadQueued) waits without retry timers until the spool reports
// its outcome, or the session deadline passes.
func TestUploadQueued(t *testing.T) {
	upload := []step{begin,
		{200 * time.Millisecond, frame(1, good(120))},
		{400 * time.Millisecond, frame(2, good(120))},
	}
	queued := step{500 * time.Millisecond, UploadQueued{Key: "s1-1", Reason: "gateway_unreachable"}}
	with := func(extra ...step) []step { return append(slices.Clone(upload), extra...) }
	cases := []struct {
		name        string
		steps       []step
		wantPhase   Phase
		wantQueued  bool
		wantOutcome Outcome
		wantPublish []string
		check       func(t *testing.T, all [][]Action)
	}{
		{
			name:        "queued, then delivered by the spool: processing and the verdict as usual",
			steps:       with(queued, step{40 * time.Second, UploadDone{api.SubmissionResponse{SubmissionID: "sub1", Attempt: 1}}}, step{41 * time.Second, Timer{TimerPoll}}, step{41 * time.Second, statusResp(api.StatusVerified, api.ActionExit, "", 0, 2)}),
			wantPhase:   Done,
			wantOutcome: Outcome{Status: api.StatusVerified},
			wantPublish: []string{"capturing", "uploading", "queued:gateway_unreachable", "processing", "verified"},
			check: func(t *testing.T, all [][]Action) {
				q := all[3]
				if count[CancelTimer](q) != 1 || find[CancelTimer](q)[0].Kind != TimerUploadRetry {
					t.Errorf("queued: retry timer not cancelled: %#v", q)
				}
				if l := find[SetLED](q); len(l) != 1 || l[0].State != led.Degraded {
					t.Errorf("queued: lights %#v, want degraded", l)
				}
				if n := count[Upload](flat(all)); n != 1 {
					t.Errorf("%d uploads, want 1 (the spool retries, not the session)", n)
				}
			},
		},
		{
			name:        "queued until the session deadline: FAILED UPLOAD_QUEUED",
			steps:       with(queued, step{time.Minute, Timer{TimerDeadline}}),
			wantPhase:   Done,
			wantQueued:  true,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonUploadQueued},
			wantPublish: []string{"capturing", "uploading", "queued:gateway_unreachable", "failed:UPLOAD_QUEUED"},
		},
		{
			name:        "a stale upload-retry timer does not upload a queued submission",
			steps:       with(queued, step{2 * time.Second, Timer{TimerUploadRetry}}),
			wantPhase:   Uploading,
			wantQueued:  true,
			wantPublish: []string{"capturing", "uploading", "queued:gateway_unreachable"},
			check: func(t *testing.T, all [][]Action) {
				if len(all[4]) != 0 {
					t.Errorf("timer after queueing: %#v, want nothing", all[4])
				}
			},
		},
		{
			name: "queued, then the gateway refuses the device: FAILED DEVICE_REVOKED",
			steps: with(queued, step{10 * time.Second, UploadFailed{Class: uplink.ClassUnauthorized,
				Err: fmt.Errorf("spool: delivery refused: %w", gwErr(403, api.CodeRevokedDevice, uplink.ErrUnauthorized))}}),
			wantPhase:   Done,
			wantQueued:  true,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonDeviceRevoked},
			wantPublish: []string{"capturing", "uploading", "queued:gateway_unreachable", "failed:DEVICE_REVOKED"},
		},
		{
			name:        "queued, then refused without a gateway code: FAILED INVALID_TOKEN",
			steps:       with(queued, step{10 * time.Second, UploadFailed{Class: uplink.ClassUnauthorized, Err: errors.New("403")}}),
			wantPhase:   Done,
			wantQueued:  true,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonInvalidToken},
			wantPublish: []string{"capturing", "uploading", "queued:gateway_unreachable", "failed:INVALID_TOKEN"},
		},
		{
			name: "queued, then 409 flow_final from the spool's delivery: the stored upload may have landed, poll",
			steps: with(queued, step{10 * time.Second, UploadFailed{Class: uplink.ClassConflict,
				Err: fmt.Errorf("spool: delivery refused: %w", gwErr(409, api.CodeFlowFinal, uplink.ErrConflict))}}),
			wantPhase:   Processing,
			wantPublish: []string{"capturing", "uploading", "queued:gateway_unreachable", "processing"},
		},
		{
			name:        "queued, then the token expires in the spool: FAILED TOKEN_EXPIRED",
			steps:       with(queued, step{10 * time.Second, UploadFailed{Class: uplink.ClassExpired}}),
			wantPhase:   Done,
			wantQueued:  true,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonTokenExpired},
			wantPublish: []string{"capturing", "uploading", "queued:gateway_unreachable", "failed:TOKEN_EXPIRED"},
		},
		{
			name:        "queued for another key is ignored",
			steps:       with(step{500 * time.Millisecond, UploadQueued{Key: "s1-9"}}),
			wantPhase:   Uploading,
			wantPublish: []string{"capturing", "uploading"},
			check: func(t *testing.T, all [][]Action) {
				if len(all[3]) != 0 {
					t.Errorf("actions %#v", all[3])
				}
			},
		},
		{
			name:        "queued twice publishes once",
			steps:       with(queued, queued),
			wantPhase:   Uploading,
			wantQueued:  true,
			wantPublish: []string{"capturing", "uploading", "queued:gateway_unreachable"},
		},
		{
			name:        "queued while capturing is ignored",
			steps:       []step{begin, {100 * time.Millisecond, UploadQueued{Key: "s1-1"}}},
			wantPhase:   Capturing,
			wantPublish: []string{"capturing"},
		},
		{
			name:        "deadline without a queued upload is still SESSION_TIMEOUT",
			steps:       with(step{time.Minute, Timer{TimerDeadline}}),
			wantPhase:   Done,
			wantOutcome: Outcome{Status: StatusFailure, Reason: ReasonSessionTimeout},
			wantPublish: []string{"capturing", "uploading", "failed:SESSION_TIMEOUT"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, all := run(t, tc.steps)
			if s.Phase != tc.wantPhase || s.Queued != tc.wantQueued || s.Outcome != tc.wantOutcome {
				t.Errorf("phase %s queued %v outcome %+v; want %s %v %+v", s.Phase, s.Queued, s.Outcome, tc.wantPhase, tc.wantQueued, tc.wantOutcome)
			}
			if got := published(flat(all)); !slices.Equal(got, tc.wantPublish) {
				t.Errorf("published %v, want %v", got, tc.wantPublish)
			}
			if tc.check != nil {
				tc.check(t, all)
			}
		})
	}
}
