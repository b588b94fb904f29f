package mqtt

import "github.com/faceverify/faceverify/gateway/mqttapi"

// The MQTT contract (topics, payloads, command signing) is gateway/mqttapi,
// shared with the gateway's fleet view and broker. The names below are
// that package's, re-exported so the agent's wiring can keep one import.

// Contract constants; see gateway/mqttapi.
const (
	Version                  = mqttapi.Version
	DefaultPrefix            = mqttapi.DefaultPrefix
	DefaultHADiscoveryPrefix = mqttapi.DefaultHADiscoveryPrefix
	HAPayloadPress           = mqttapi.HAPayloadPress
	UncleanSeqJump           = mqttapi.UncleanSeqJump
	GapRestart               = mqttapi.GapRestart
	MaxCommandBytes          = mqttapi.MaxCommandBytes
	DefaultCommandWindow     = mqttapi.DefaultCommandWindow
	NonceFile                = mqttapi.NonceFile

	StateOnline          = mqttapi.StateOnline
	StateDegraded        = mqttapi.StateDegraded
	StateOffline         = mqttapi.StateOffline
	ReasonShutdown       = mqttapi.ReasonShutdown
	ReasonConnectionLost = mqttapi.ReasonConnectionLost

	CmdVerify       = mqttapi.CmdVerify
	CmdCancel       = mqttapi.CmdCancel
	CmdSelfTest     = mqttapi.CmdSelfTest
	CmdIdentify     = mqttapi.CmdIdentify
	CmdReloadConfig = mqttapi.CmdReloadConfig

	SourceSigned = mqttapi.SourceSigned
	SourceHA     = mqttapi.SourceHA
)

// Contract types; see gateway/mqttapi.
type (
	Status          = mqttapi.Status
	EventMessage    = mqttapi.EventMessage
	Telemetry       = mqttapi.Telemetry
	CameraTelemetry = mqttapi.CameraTelemetry
	ModelLatency    = mqttapi.ModelLatency
	SpoolTelemetry  = mqttapi.SpoolTelemetry
	MQTTTelemetry   = mqttapi.MQTTTelemetry
	Command         = mqttapi.Command
	Reply           = mqttapi.Reply
	ReplyError      = mqttapi.ReplyError
	CommandEnvelope = mqttapi.CommandEnvelope
	CommandHeader   = mqttapi.CommandHeader
	Verifier        = mqttapi.Verifier
)

// Command verification errors; see gateway/mqttapi.
var (
	ErrUnsigned     = mqttapi.ErrUnsigned
	ErrBadSignature = mqttapi.ErrBadSignature
	ErrExpired      = mqttapi.ErrExpired
	ErrReplayed     = mqttapi.ErrReplayed
	ErrMalformed    = mqttapi.ErrMalformed
	ErrNoSecret     = mqttapi.ErrNoSecret
	ErrNonceStore   = mqttapi.ErrNonceStore
)

// Contract functions; see gateway/mqttapi.
var (
	ErrorReply       = mqttapi.ErrorReply
	ResultReply      = mqttapi.ResultReply
	ReplyCode        = mqttapi.ReplyCode
	Signature        = mqttapi.Signature
	NewNonce         = mqttapi.NewNonce
	SignCommand      = mqttapi.SignCommand
	NewVerifier      = mqttapi.NewVerifier
	OpenVerifier     = mqttapi.OpenVerifier
	ValidTopicLevel  = mqttapi.ValidTopicLevel
	TopicPrefixValid = mqttapi.TopicPrefixValid
)
