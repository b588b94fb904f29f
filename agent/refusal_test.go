package agent

import (
	"encoding/json"
	"image/color"
	"net/http"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/agent/session"
	"github.com/faceverify/faceverify/gateway/api"
	mqtt "github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/uplink"
	"github.com/faceverify/faceverify/uplink/mqtt/mqtttest"
	"github.com/faceverify/faceverify/uplink/spool"
)

// TestGatewayRefusalsEndToEnd: a refused first upload, through the real
// HTTP client, ends the session with a reason named by the gateway's error
// code. A 409 flow_final on a fresh session must not adopt the flow's old
// verdict (the fake gateway's status says VERIFIED): nothing of this
// capture was taken.
func TestGatewayRefusalsEndToEnd(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		code       string
		wantReason string
	}{
		{"409 flow_final on the first try", http.StatusConflict, api.CodeFlowFinal, session.ReasonFlowFinal},
		{"409 attempts_exhausted on the first try", http.StatusConflict, api.CodeAttemptsExhausted, api.ReasonAttemptsExhausted},
		{"403 unknown_device", http.StatusForbidden, api.CodeUnknownDevice, session.ReasonDeviceNotEnrolled},
		{"403 revoked_device", http.StatusForbidden, api.CodeRevokedDevice, session.ReasonDeviceRevoked},
		{"401 bad_signature", http.StatusUnauthorized, api.CodeBadSignature, session.ReasonSignatureRejected},
		{"401 signature_required", http.StatusUnauthorized, api.CodeSignatureRequired, session.ReasonSignatureRejected},
		{"401 clock_skew", http.StatusUnauthorized, api.CodeClockSkew, session.ReasonClockSkew},
		{"401 invalid_token", http.StatusUnauthorized, api.CodeInvalidToken, session.ReasonInvalidToken},
		{"410 gone", http.StatusGone, "token_expired", session.ReasonTokenExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := agenttest.NewGateway(token)
			defer gw.Close()
			gw.OnSubmit = func(int, api.SubmissionRequest) int { return tc.status }
			gw.ErrorCode = func(int, int) string { return tc.code }
			// Whatever the flow decided earlier, it is not this capture's verdict.
			gw.OnStatus = func(int, int) (api.StatusResponse, int) {
				return api.StatusResponse{Status: api.StatusVerified, NextAction: api.ActionExit}, http.StatusOK
			}
			an := &agenttest.Analyzer{ByColor: map[color.RGBA]inference.Analysis{green: agenttest.OneFace(faceBox, true)}}
			h := start(t, testCfg(), source(green), an, gw, nil)
			if code, body := h.post("/v1/verify", launchBody(gw.URL())); code != http.StatusAccepted {
				t.Fatalf("launch: %d %v", code, body)
			}
			v := h.waitFinal()
			if v.Status != session.StatusFailure || v.Reason != tc.wantReason {
				t.Errorf("final %s %s, want FAILED %s", v.Status, v.Reason, tc.wantReason)
			}
			if n := gw.Polls(); n != 0 {
				t.Errorf("%d status polls after a refused first upload, want 0", n)
			}
			if n := len(gw.Submissions()); n != 1 {
				t.Errorf("%d submissions, want 1", n)
			}
		})
	}
}

// TestEventSchemaCoversSessionStates: the events the session publishes
// for a spooled upload and for the device refusals match
// gateway/mqttapi/schemas/event.json, and the reply's session view with state
// "queued" matches gateway/mqttapi/schemas/reply.json.
func TestEventSchemaCoversSessionStates(t *testing.T) {
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	ev := func(state, reason string) []byte {
		b, err := json.Marshal(mqtt.EventMessage{V: mqtt.Version, Event: uplink.Event{
			DeviceID: "kiosk-7", SessionID: "s1", CorrelationID: "ord-1", State: state, Reason: reason, Attempt: 1, Seq: 3, Time: at}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct{ state, reason string }{
		{session.StateQueued, spool.ReasonUnreachable},
		{session.StateQueued, spool.ReasonClockUnsynced},
		{"failed", session.ReasonDeviceNotEnrolled},
		{"failed", session.ReasonDeviceRevoked},
		{"failed", session.ReasonSignatureRejected},
		{"failed", session.ReasonClockSkew},
		{"failed", session.ReasonFlowFinal},
	} {
		mqtttest.Validate(t, mqtttest.SchemaEvent, ev(c.state, c.reason))
	}
	if err := mqtttest.ValidateErr(t, mqtttest.SchemaEvent, ev("failed", "gateway_unreachable")); err == nil {
		t.Error("a lower-case reason on a final state passed the event schema")
	}
	v := SessionView{SessionID: "s1", CorrelationID: "ord-1", State: session.StateQueued, Attempt: 1, StartedAt: at, ElapsedMS: 1200}
	b, err := json.Marshal(map[string]any{"v": 1, "command": "verify", "device_id": "kiosk-7", "request_id": "r1",
		"ok": true, "time": at, "result": map[string]any{"session": v}})
	if err != nil {
		t.Fatal(err)
	}
	mqtttest.Validate(t, mqtttest.SchemaReply, b)
}
