package session

import (
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
)

// TestPublishedNextAction: the event of a state change the gateway's answer
// caused carries that answer (RETRY on the next round's capturing event,
// EXIT on the final event); a STATUS answer publishes nothing and the
// agent's own changes carry none.
func TestPublishedNextAction(t *testing.T) {
	ms := time.Millisecond
	upload := []step{begin,
		{45 * ms, took(frame(1, good(120)), 45*ms)},
		{145 * ms, took(frame(2, good(120)), 45*ms)},
		{180 * ms, UploadDone{}},
	}
	for _, tc := range []struct {
		name   string
		answer StatusResult
		want   []Publish
	}{
		{"retry", statusResp(api.StatusProcessing, api.ActionRetry, "LIVENESS_FAILED", 0, 2),
			[]Publish{{State: string(Capturing), Attempt: 2, NextAction: api.ActionRetry}}},
		{"exit", statusResp(api.StatusRejected, api.ActionExit, "FACE_MISMATCH", 0, 2),
			[]Publish{{State: "rejected", Reason: "FACE_MISMATCH", Attempt: 1, NextAction: api.ActionExit}}},
		{"status", statusResp(api.StatusProcessing, api.ActionStatus, "", 500, 2), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, all := runWith(DefaultConfig(), append(upload, step{300 * ms, tc.answer}))
			for i, acts := range all[:len(all)-1] {
				for _, p := range find[Publish](acts) {
					if p.NextAction != "" {
						t.Errorf("step %d: the agent's own change published next action %q", i, p.NextAction)
					}
				}
			}
			got := find[Publish](all[len(all)-1])
			if len(got) != len(tc.want) {
				t.Fatalf("published %#v, want %#v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("published %#v, want %#v", got[i], tc.want[i])
				}
			}
		})
	}
}
