package mqttapi_test

import (
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/uplink/mqtt/mqtttest"
)

// TestSchemasMatchTheTypes: every embedded schema compiles, and payloads
// built from the contract's types validate against their schema.
func TestSchemasMatchTheTypes(t *testing.T) {
	names, err := fs.Glob(mqttapi.Schemas, "schemas/*.json")
	if err != nil || len(names) < 6 {
		t.Fatalf("embedded schemas: %v, %v", names, err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	marshal := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		schema  string
		payload []byte
	}{
		{mqttapi.SchemaStatus, marshal(mqttapi.Status{V: mqttapi.Version, DeviceID: "k1", State: mqttapi.StateOnline, Time: &at, Version: "1.0.0"})},
		{mqttapi.SchemaStatus, marshal(mqttapi.Status{V: mqttapi.Version, DeviceID: "k1", State: mqttapi.StateOffline, Reason: mqttapi.ReasonConnectionLost})},
		{mqttapi.SchemaEvent, marshal(mqttapi.EventMessage{V: mqttapi.Version, Event: mqttapi.Event{
			DeviceID: "k1", SessionID: "s1", CorrelationID: "c1", State: "capturing", Attempt: 1, Seq: 1, Time: at}})},
		{mqttapi.SchemaTelemetry, marshal(mqttapi.Telemetry{V: mqttapi.Version, DeviceID: "k1", Time: at, UptimeS: 12,
			Spool: &mqttapi.SpoolTelemetry{Depth: 0}, MQTT: &mqttapi.MQTTTelemetry{}})},
	}
	for _, tt := range tests {
		mqtttest.Validate(t, tt.schema, tt.payload)
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "schemas/"), ".json")
		if err := mqtttest.ValidateErr(t, name, []byte(`"not an object"`)); err == nil {
			t.Errorf("schema %s accepts a string", name)
		}
	}
}
