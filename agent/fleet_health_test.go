package agent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/health"
	"github.com/faceverify/faceverify/uplink/mqtt"
)

type fakeConn struct {
	connected bool
	failure   string
}

func (f *fakeConn) Connected() bool        { return f.connected }
func (f *fakeConn) ConnectFailure() string { return f.failure }

type onlyConnected struct{ connected bool }

func (o onlyConnected) Connected() bool { return o.connected }

func TestMQTTHealthProbe(t *testing.T) {
	for _, tc := range []struct {
		name       string
		c          interface{ Connected() bool }
		wantOK     bool
		wantReason string
	}{
		{"connected", &fakeConn{connected: true, failure: ""}, true, ""},
		{"not authorised", &fakeConn{failure: mqtt.ReasonMQTTNotAuthorised}, false, "mqtt_not_authorised"},
		{"connecting, nothing failed yet", &fakeConn{failure: ""}, false, "mqtt"},
		{"publisher without failure reasons", onlyConnected{}, false, "mqtt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := health.NewRegistry()
			h.Probe("mqtt", mqttHealthProbe(tc.c))
			r := h.Report()
			if got := r.Components["mqtt"]; got.OK != tc.wantOK || got.Reason != tc.wantReason {
				t.Errorf("mqtt component %+v, want ok=%v reason %q", got, tc.wantOK, tc.wantReason)
			}
			if !tc.wantOK && !slices.Equal(r.Reasons, []string{tc.wantReason}) {
				t.Errorf("reasons %v, want [%s]", r.Reasons, tc.wantReason)
			}
		})
	}
}

// TestMQTTHealthReasonFromClient: a real client whose broker refuses the
// connection reports the cause as the mqtt health reason.
func TestMQTTHealthReasonFromClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := mqtt.New(mqtt.Options{Broker: "tcp://" + addr, DeviceID: "kiosk-h", MachineIDPath: "-",
		TelemetryInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	h := health.NewRegistry()
	h.Probe("mqtt", mqttHealthProbe(c))
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.Report()
		if slices.Equal(r.Reasons, []string{mqtt.ReasonMQTTRefused}) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health reasons %v, want [%s]", r.Reasons, mqtt.ReasonMQTTRefused)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
