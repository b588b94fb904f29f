package gateway

import (
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
)

func TestJudge(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name    string
		o       outcome
		attempt int
		want    verdict
	}{
		{"match", outcome{selfie: inference.DecisionOK, similarity: f(0.8)}, 1, verdict{api.StatusVerified, "", true}},
		{"mismatch is final at once", outcome{selfie: inference.DecisionOK, similarity: f(0.1)}, 1, verdict{api.StatusRejected, api.ReasonFaceMismatch, true}},
		{"at threshold matches", outcome{selfie: inference.DecisionOK, similarity: f(0.35)}, 1, verdict{api.StatusVerified, "", true}},
		{"liveness retry", outcome{selfie: inference.DecisionLivenessFailed}, 1, verdict{api.StatusRejected, api.ReasonLivenessFailed, false}},
		{"liveness last attempt", outcome{selfie: inference.DecisionLivenessFailed}, 3, verdict{api.StatusRejected, api.ReasonLivenessFailed, true}},
		{"no face retry", outcome{selfie: inference.DecisionNoFace}, 2, verdict{api.StatusRejected, api.ReasonNoFace, false}},
		{"two faces", outcome{selfie: inference.DecisionMultipleFaces}, 1, verdict{api.StatusRejected, api.ReasonMultipleFaces, false}},
		{"undecodable is low quality", outcome{selfie: inference.DecisionDecodeError}, 1, verdict{api.StatusRejected, api.ReasonLowQuality, false}},
		{"reference unavailable is final", outcome{selfie: inference.DecisionOK, referenceErr: errReferenceUnusable}, 1, verdict{api.StatusRejected, api.ReasonReferenceUnavailable, true}},
		{"given up", outcome{gaveUp: true}, 1, verdict{api.StatusRejected, api.ReasonProcessingError, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := judge(tt.o, tt.attempt, 3, 0.35); got != tt.want {
				t.Errorf("judge = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDeriveStatus(t *testing.T) {
	open := Flow{CorrelationID: "c1"}
	final := Flow{CorrelationID: "c1", Status: api.StatusRejected, Reason: api.ReasonLivenessFailed}
	pending := Submission{State: StatePending, Status: api.StatusProcessing}
	rejected := Submission{State: StateDone, Status: api.StatusRejected, Reason: api.ReasonNoFace}
	tests := []struct {
		name string
		f    Flow
		subs []Submission
		want api.StatusResponse
	}{
		{"no attempt", open, nil, api.StatusResponse{CorrelationID: "c1", Status: api.StatusPending, NextAction: api.ActionRetry, AttemptsLeft: 3}},
		{"processing", open, []Submission{pending}, api.StatusResponse{CorrelationID: "c1", Status: api.StatusProcessing, NextAction: api.ActionStatus, RetryAfterMS: 500, AttemptsLeft: 2}},
		{"retryable", open, []Submission{rejected}, api.StatusResponse{CorrelationID: "c1", Status: api.StatusRejected, NextAction: api.ActionRetry, Reason: api.ReasonNoFace, AttemptsLeft: 2}},
		{"final", final, []Submission{rejected, rejected, rejected}, api.StatusResponse{CorrelationID: "c1", Status: api.StatusRejected, NextAction: api.ActionExit, Reason: api.ReasonLivenessFailed, AttemptsLeft: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := deriveStatus(tt.f, tt.subs, 3, 500); got != tt.want {
				t.Errorf("deriveStatus = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCallbackBackoff(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want time.Duration
	}{{1, 2 * time.Second}, {2, 4 * time.Second}, {3, 8 * time.Second}, {20, time.Minute}} {
		if got := callbackBackoff(tt.n, 2*time.Second, time.Minute); got != tt.want {
			t.Errorf("callbackBackoff(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}
