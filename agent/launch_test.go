package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/agent/agenttest"
)

func TestValidCorrelationID(t *testing.T) {
	cases := []struct {
		name string
		id   string
		want bool
	}{
		{"letters digits dot underscore dash", "Ord-5531_a.b", true},
		{"one character", "c", true},
		{"128 characters", strings.Repeat("x", 128), true},
		{"empty", "", false},
		{"129 characters", strings.Repeat("x", 129), false},
		{"space", "ord 1", false},
		{"slash", "ord/1", false},
		{"colon", "ord:1", false},
		{"MQTT wildcard", "ord+1", false},
		{"non-ASCII", "ordé", false},
		{"control character", "ord\n1", false},
		{"dot", ".", false},
		{"dot dot", "..", false},
		{"three dots", "...", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidCorrelationID(tc.id); got != tc.want {
				t.Errorf("ValidCorrelationID(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}

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

	var reply CommandReply
	payload := `{"request_id":"r-1","token":"` + token + `","correlation_id":"order 17/b","base_url":"` + gw.URL() + `"}`
	if err := json.Unmarshal(h.a.HandleVerifyCommand(context.Background(), []byte(payload)), &reply); err != nil {
		t.Fatal(err)
	}
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
