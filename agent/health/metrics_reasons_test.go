package health

import (
	"testing"

	"github.com/faceverify/faceverify/agent/session"
	"github.com/faceverify/faceverify/gateway/api"
)

// TestSessionReasonsAreLabelled: every reason a session can end with has
// its own value of the reason label of faceverify_agent_sessions_total
// (an unlisted one would be counted as "other").
func TestSessionReasonsAreLabelled(t *testing.T) {
	for _, r := range []string{
		api.ReasonNoFace, api.ReasonMultipleFaces, api.ReasonLowQuality, api.ReasonLivenessFailed,
		api.ReasonFaceMismatch, api.ReasonReferenceUnavailable, api.ReasonAttemptsExhausted, api.ReasonProcessingError,
		session.ReasonCameraLost, session.ReasonCameraError, session.ReasonAnalyzerError,
		session.ReasonTokenExpired, session.ReasonInvalidToken, session.ReasonSessionTimeout,
		session.ReasonUploadFailed, session.ReasonUploadRejected, session.ReasonGatewayUnavailable,
		session.ReasonGatewayError, session.ReasonUploadQueued, session.ReasonCancelled,
		session.ReasonDeviceNotEnrolled, session.ReasonDeviceRevoked, session.ReasonSignatureRejected,
		session.ReasonClockSkew, session.ReasonFlowFinal,
	} {
		if !knownReasons[r] {
			t.Errorf("reason %s is not in knownReasons: sessions ending with it would be counted as \"other\"", r)
		}
	}
	if knownReasons["SOMETHING_ELSE"] {
		t.Error("knownReasons accepts any reason")
	}
}
