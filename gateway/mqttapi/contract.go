// Package mqttapi is the MQTT contract between the kiosk agents, the
// gateway's fleet view and embedded broker, and Home Assistant: topics,
// payload types, the signing and verification of commands, Home Assistant
// node ids and the broker's per-role topic rules. It is the MQTT twin of
// gateway/api: a leaf that the device side (uplink/mqtt, agent) and the
// server side (gateway/fleet, gateway/broker) both import, so neither
// imports the other. docs/mqtt.md describes the contract in prose; one
// JSON Schema per message is in schemas/ (embedded as Schemas).
//
// Topics, with prefix P (DefaultPrefix) and device id D; every payload is
// JSON with "v":1 (Version):
//
//	P/D/status             retained Status online|degraded|offline, QoS 1; "offline" is also the Last Will
//	P/D/events             EventMessage per session state change, QoS 1, per-device seq
//	P/D/telemetry          retained Telemetry, periodic and after each event, QoS 0
//	P/D/cmd/<name>         signed CommandEnvelope: verify, cancel, self-test, identify, reload-config
//	P/D/cmd/<name>/reply   Reply with the request_id and the outcome, QoS 1
//	P/D/ha/<name>          unsigned Home Assistant buttons (identify, self-test only)
//	homeassistant/…/config retained discovery configs, re-sent on Home Assistant's birth message
//
// Status, events and telemetry carry states, reasons and counters only: no
// images, embeddings, scores or tokens.
package mqttapi

import (
	"encoding/json"
	"time"
)

// Version is the "v" field of every payload this package sends or accepts.
// A consumer must ignore fields it does not know and refuse a higher "v".
// The contract is docs/mqtt.md; one JSON Schema per message is in
// schemas/ (Schemas).
const Version = 1

// Status states (Status.State).
const (
	StateOnline   = "online"   // connected and working
	StateDegraded = "degraded" // connected, something is wrong: see Status.Reason
	StateOffline  = "offline"  // stopped cleanly, or the Last Will after an unclean drop
)

// Offline reasons (Status.Reason when State is offline).
const (
	ReasonShutdown       = "shutdown"        // the agent stopped cleanly
	ReasonConnectionLost = "connection_lost" // the Last Will: the broker lost the connection
)

// Command names, the <name> of P/D/cmd/<name>.
const (
	CmdVerify       = "verify"
	CmdCancel       = "cancel"
	CmdSelfTest     = "self-test"
	CmdIdentify     = "identify"
	CmdReloadConfig = "reload-config"
)

// Command sources (Command.Source).
const (
	SourceSigned = "signed" // P/D/cmd/<name> with a valid HMAC signature
	SourceHA     = "ha"     // P/D/ha/<name>: unsigned Home Assistant button, ACL-restricted
)

// Status is the retained payload of P/D/status.
type Status struct {
	V        int    `json:"v"`
	DeviceID string `json:"device_id"`
	State    string `json:"state"`            // StateOnline, StateDegraded or StateOffline
	Reason   string `json:"reason,omitempty"` // why degraded or offline, snake_case
	// Time is when the state was set (UTC); absent in the Last Will, whose
	// payload is fixed when the connection is made.
	Time    *time.Time `json:"time,omitempty"`
	Version string     `json:"version,omitempty"` // agent version
}

// EventMessage is the payload of P/D/events: one Event with the
// payload version. Seq is per device, from 1, persisted across restarts
// when the agent has a state directory: a consumer drops a seq it has seen
// (duplicates after a reconnect) and counts a jump as lost events, except
// the jump before an event with Gap GapRestart (an unclean agent stop).
type EventMessage struct {
	V int `json:"v"`
	Event
	// Gap is GapRestart on the first event after the sequence jumped by
	// UncleanSeqJump, else empty (omitted).
	Gap string `json:"gap,omitempty"`
}

// Telemetry is the retained payload of P/D/telemetry, sent at the agent's
// telemetry interval and shortly after each event. Every reading is
// optional: a value the agent cannot read is omitted, never zero-filled.
type Telemetry struct {
	V        int       `json:"v"`
	DeviceID string    `json:"device_id"`
	Time     time.Time `json:"time"`                   // when the reading was taken (UTC)
	UptimeS  float64   `json:"uptime_s"`               // seconds since the agent started
	Version  string    `json:"version,omitempty"`      // agent version
	Session  string    `json:"session,omitempty"`      // "idle" or the session state, e.g. "capturing"
	Outcome  string    `json:"last_outcome,omitempty"` // final state of the last session: verified, rejected, failed, cancelled
	LED      string    `json:"led,omitempty"`          // what the status lights show, e.g. "idle"
	// CPUTempC is the CPU temperature, °C, from /sys/class/thermal.
	CPUTempC *float64                `json:"cpu_temp_c,omitempty"`
	Camera   *CameraTelemetry        `json:"camera,omitempty"`
	Models   map[string]ModelLatency `json:"models,omitempty"` // by model stage: detect, landmarks, liveness, embed
	Spool    *SpoolTelemetry         `json:"spool,omitempty"`
	MQTT     *MQTTTelemetry          `json:"mqtt,omitempty"` // filled by the agent's MQTT client
}

// CameraTelemetry describes the camera since the previous report.
type CameraTelemetry struct {
	FPS            *float64 `json:"fps,omitempty"`             // frames delivered per second
	FramesDropped  *uint64  `json:"frames_dropped,omitempty"`  // total since start, replaced before analysis
	FramesAnalyzed *uint64  `json:"frames_analyzed,omitempty"` // total since start
}

// ModelLatency is one model's mean inference time, milliseconds, over the
// Count calls since the previous report.
type ModelLatency struct {
	MeanMS float64 `json:"mean_ms"`
	Count  uint64  `json:"count"`
}

// SpoolTelemetry is the offline submission spool.
type SpoolTelemetry struct {
	Depth int    `json:"depth"`           // submissions waiting
	Bytes *int64 `json:"bytes,omitempty"` // their size on disk
}

// MQTTTelemetry is the agent's MQTT client's own state.
type MQTTTelemetry struct {
	OutboxDepth int    `json:"outbox_depth"` // events waiting to be sent
	Dropped     uint64 `json:"dropped"`      // events dropped since start (outbox full)
	Reconnects  uint64 `json:"reconnects"`   // connections made since start, minus one
}

// Command is one authenticated command, as a device hands it to its
// command handler.
type Command struct {
	Name      string          // CmdVerify, ...
	RequestID string          // from the body; "" when absent (HA buttons)
	Body      json.RawMessage // the signed body object ({} for HA buttons)
	Source    string          // SourceSigned or SourceHA
}

// Reply is the payload of P/D/cmd/<name>/reply. The agent's MQTT client
// fills V, Command, DeviceID, RequestID (when empty) and Time.
type Reply struct {
	V         int             `json:"v"`
	Command   string          `json:"command"`
	DeviceID  string          `json:"device_id"`
	RequestID string          `json:"request_id,omitempty"`
	OK        bool            `json:"ok"`
	Time      time.Time       `json:"time"`
	Result    json.RawMessage `json:"result,omitempty"` // command-specific, see docs/mqtt.md
	Error     *ReplyError     `json:"error,omitempty"`  // set when OK is false
}

// ReplyError says why a command was refused or failed.
type ReplyError struct {
	// Code is one of: unauthorized (unsigned, bad signature, unknown
	// sender), expired (timestamp outside the window), replayed (nonce seen),
	// bad_request, busy, no_session, unsupported, invalid_config,
	// shutting_down, overloaded, internal.
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"` // the offending body field, if any
}

// ErrorReply is a Reply refusing a command with code and message.
func ErrorReply(code, message string) Reply {
	return Reply{Error: &ReplyError{Code: code, Message: message}}
}

// ResultReply is a successful Reply carrying result marshalled as JSON
// (nil for none).
func ResultReply(result any) Reply {
	r := Reply{OK: true}
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			return ErrorReply("internal", "marshal result: "+err.Error())
		}
		r.Result = b
	}
	return r
}

// Event is one progress report of a verification session for fleet
// monitoring. It carries states and reasons only: never images,
// embeddings, scores or tokens.
type Event struct {
	DeviceID      string `json:"device_id"`
	SessionID     string `json:"session_id"`
	CorrelationID string `json:"correlation_id"`
	State         string `json:"state"`            // session state, e.g. "capturing", "verified"
	Reason        string `json:"reason,omitempty"` // final states only, e.g. "FACE_MISMATCH"
	Attempt       int    `json:"attempt"`          // capture round, from 1
	// Guidance is the kiosk's guidance code while capturing (state
	// "capturing"), e.g. "MOVE_CLOSER"; see agent/session/guidance.go.
	// Progress is 0–100 toward the passing frames that end a round. Neither
	// carries biometric data.
	Guidance string `json:"guidance,omitempty"`
	Progress int    `json:"progress,omitempty"`
	// NextAction is the gateway's answer that caused this state change:
	// "RETRY" on the capturing event of the next round, "EXIT" on the
	// final event; empty on changes the agent made itself. A "STATUS"
	// answer changes no state and is not published.
	NextAction string    `json:"next_action,omitempty"`
	Seq        uint64    `json:"seq"`  // per-device, from 1 since agent start; gaps = drops
	Time       time.Time `json:"time"` // when the state changed (UTC)
}
