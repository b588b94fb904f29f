package broker

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/uplink"
	"github.com/faceverify/faceverify/uplink/mqtt"
)

// TestAgentReporterFitsKioskRole runs the agent's MQTT reporter
// (uplink/mqtt) logged in as a kiosk account with a dotted device id: its
// status, events, telemetry, Home Assistant discovery and a command reply
// all get through the kiosk rules, and the operator's signed command and
// Home Assistant's button reach it.
func TestAgentReporterFitsKioskRole(t *testing.T) {
	b := startWithAccounts(t)
	op, ha := login(t, b, "fleet-op", "agent"), login(t, b, "ha", "agent")
	inOp, inHA := newInbox(), newInbox()
	for _, f := range []string{"faceverify/+/status", "faceverify/+/events", "faceverify/+/telemetry", "faceverify/+/cmd/+/reply"} {
		if q := subscribe(t, op, f, inOp); q == 0x80 {
			t.Fatalf("operator refused %s", f)
		}
	}
	subscribe(t, ha, "homeassistant/#", inHA)

	const dev = "kiosk.lobby"
	secret := []byte("command-secret-0123456789")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	mc, err := mqtt.New(mqtt.Options{Broker: b.URL(), DeviceID: dev, QoS: 1, Version: "1.0.0",
		Username: dev, Password: testAccounts[dev].password, CommandSecret: secret, MachineIDPath: "-",
		HADiscovery: true, TelemetryInterval: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	identified := make(chan struct{}, 4)
	mc.HandleCommand(mqttapi.CmdIdentify, func(context.Context, mqttapi.Command) mqttapi.Reply {
		identified <- struct{}{}
		return mqttapi.ResultReply(map[string]any{"effect": "logged", "duration_ms": 1000})
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { mc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitPrefix := func(in *inbox, prefix string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			for _, g := range in.snapshot() {
				if strings.HasPrefix(g, prefix) {
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("nothing starting with %q arrived; got %q", prefix, in.snapshot())
	}
	waitPrefix(inOp, "faceverify/kiosk.lobby/status ")
	waitPrefix(inOp, "faceverify/kiosk.lobby/telemetry ")
	waitPrefix(inHA, "homeassistant/button/faceverify_kiosk_lobby/")
	mc.Publish(uplink.Event{SessionID: "s1", CorrelationID: "c1", State: "capturing", Attempt: 1})
	waitPrefix(inOp, "faceverify/kiosk.lobby/events ")

	topic := mc.CommandTopic(mqttapi.CmdIdentify)
	payload, err := mqttapi.SignCommand(secret, topic, "r-1", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, op, topic, 1, string(payload))
	select {
	case <-identified:
	case <-time.After(10 * time.Second):
		t.Fatal("the operator's signed identify never reached the kiosk")
	}
	waitPrefix(inOp, "faceverify/kiosk.lobby/cmd/identify/reply ")

	publish(t, ha, mc.HATopic(mqttapi.CmdIdentify), 1, mqttapi.HAPayloadPress)
	select {
	case <-identified:
	case <-time.After(10 * time.Second):
		t.Fatal("Home Assistant's identify button never reached the kiosk")
	}
	if s := mc.Stats(); !s.Connected || s.Reconnects != 0 {
		t.Errorf("reporter stats %+v: want connected without reconnects (a refused publish drops the connection)", s)
	}
}
