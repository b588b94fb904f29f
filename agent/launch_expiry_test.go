package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/agent/control"
	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/internal/clock"
	"github.com/faceverify/faceverify/uplink/gateway"
)

// TestExpiredLaunchNeverOpensTheCamera: a launch whose expires_at has
// passed on the agent's (injected) clock is refused on the loopback API
// and as an MQTT verify command, naming expires_at, before anything
// starts; one without expires_at is still accepted.
func TestExpiredLaunchNeverOpensTheCamera(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := clock.NewFake(t0)
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	src := source(green)
	a, err := New(testCfg(), Deps{
		Source: src, Analyzer: &agenttest.Analyzer{}, Gateway: gateway.New(gateway.Options{}), LEDs: &led.Recorder{}, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-a.Ready()
	h := &harness{t: t, a: a}

	base := `"token":"` + token + `","correlation_id":"corr-1","base_url":"` + gw.URL() + `"`
	for _, tc := range []struct{ name, body string }{
		{"a minute ago", `{` + base + `,"expires_at":"` + t0.Add(-time.Minute).Format(time.RFC3339) + `"}`},
		{"exactly now", `{` + base + `,"expires_at":"` + t0.Format(time.RFC3339) + `"}`},
		{"camel case, last year", `{` + base + `,"expiresAt":"2029-01-02T03:04:05+07:00"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := h.post("/v1/verify", tc.body)
			if code != http.StatusBadRequest || resp["code"] != "bad_request" || resp["field"] != "expires_at" {
				t.Errorf("HTTP launch: %d %v, want 400 bad_request naming expires_at", code, resp)
			}
		})
	}

	var verify control.Command
	for _, c := range a.commands(FleetOptions{}) {
		if c.Name == mqttapi.CmdVerify {
			verify = c
		}
	}
	payload := `{"request_id":"r-1",` + base + `,"expires_at":"` + t0.Add(-time.Second).Format(time.RFC3339) + `"}`
	reply := verify.MQTTHandler(nil)(context.Background(), mqttapi.Command{Name: mqttapi.CmdVerify, RequestID: "r-1", Body: json.RawMessage(payload), Source: mqttapi.SourceSigned})
	if reply.OK || reply.Error == nil || reply.Error.Field != "expires_at" || reply.RequestID != "r-1" {
		t.Errorf("MQTT reply %+v (error %+v), want a refusal naming expires_at", reply, reply.Error)
	}
	if n := src.Opens(); n != 0 {
		t.Errorf("camera opened %d times for refused launches", n)
	}
	if _, ok := a.Session(); ok {
		t.Error("a refused launch started a session")
	}

	// Without expires_at a launch is still accepted (one expiring later
	// is covered by control.TestCheckExpiry).
	if code, resp := h.post("/v1/verify", `{`+base+`}`); code != http.StatusAccepted {
		t.Fatalf("launch without expires_at: %d %v, want 202", code, resp)
	}
	if code, resp := h.post("/v1/cancel", `{}`); code != http.StatusOK {
		t.Fatalf("cancel: %d %v", code, resp)
	}
}
