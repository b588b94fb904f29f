package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/agent/control"
	"github.com/faceverify/faceverify/gateway/mqttapi"
)

// TestBadCorrelationIDNeverOpensTheCamera: the loopback API and the MQTT
// verify command refuse a correlation id the gateway would refuse, naming
// the field, before anything starts.
func TestBadCorrelationIDNeverOpensTheCamera(t *testing.T) {
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	src := source(green)
	h := start(t, testCfg(), src, &agenttest.Analyzer{}, gw, nil)

	body := `{"token":"` + token + `","correlation_id":"order 17/b","base_url":"` + gw.URL() + `"}`
	code, resp := h.post("/v1/verify", body)
	if code != http.StatusBadRequest || resp["field"] != "correlation_id" || resp["code"] != "bad_request" {
		t.Errorf("HTTP launch: %d %v, want 400 bad_request naming correlation_id", code, resp)
	}

	var verify control.Command
	for _, c := range h.a.commands(FleetOptions{}) {
		if c.Name == mqttapi.CmdVerify {
			verify = c
		}
	}
	payload := `{"request_id":"r-1","token":"` + token + `","correlation_id":"order 17/b","base_url":"` + gw.URL() + `"}`
	reply := verify.MQTTHandler(nil)(context.Background(), mqttapi.Command{Name: mqttapi.CmdVerify, RequestID: "r-1", Body: json.RawMessage(payload), Source: mqttapi.SourceSigned})
	if reply.OK || reply.Error == nil || reply.Error.Field != "correlation_id" || reply.RequestID != "r-1" {
		t.Errorf("MQTT reply %+v (error %+v), want a refusal naming correlation_id", reply, reply.Error)
	}

	if n := src.Opens(); n != 0 {
		t.Errorf("camera opened %d times for refused launches", n)
	}
	if _, ok := h.a.Session(); ok {
		t.Error("a refused launch started a session")
	}
}
