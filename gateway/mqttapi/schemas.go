package mqttapi

import (
	"embed"
	"strings"
)

// Schemas holds one JSON Schema (draft 2020-12) per message of the
// contract, as schemas/<name>.json; the names are the Schema constants.
// Tests validate what the agent sends against them; an integrator can
// validate what it receives.
//
//go:embed schemas/*.json
var Schemas embed.FS

// Schema names: Schemas holds schemas/<name>.json.
const (
	SchemaStatus      = "status"
	SchemaEvent       = "event"
	SchemaTelemetry   = "telemetry"
	SchemaCommand     = "command"
	SchemaReply       = "reply"
	SchemaHADiscovery = "ha-discovery"
)

// SchemaCommandBody is the schema name of the signed body of command name
// (CmdVerify, ...).
func SchemaCommandBody(name string) string { return "command-body-" + name }

// SchemaForTopic names the schema of a message on topic under prefix
// (P/D/status → SchemaStatus, …, a Home Assistant discovery config topic →
// SchemaHADiscovery); "" for a topic without one.
func SchemaForTopic(prefix, topic string) string {
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	if !ok {
		if strings.HasSuffix(topic, "/config") {
			return SchemaHADiscovery
		}
		return ""
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && parts[1] == TopicStatus:
		return SchemaStatus
	case len(parts) == 2 && parts[1] == TopicEvents:
		return SchemaEvent
	case len(parts) == 2 && parts[1] == TopicTelemetry:
		return SchemaTelemetry
	case len(parts) == 3 && parts[1] == "cmd":
		return SchemaCommand
	case len(parts) == 4 && parts[1] == "cmd" && parts[3] == "reply":
		return SchemaReply
	}
	return ""
}
