package agent

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/agent/session"
	mqtt "github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/inference"
)

// Environment variables read by Load; they override the file.
const (
	EnvMQTTPassword = "FACEAGENT_MQTT_PASSWORD" // MQTT password (never put it in the file)
	EnvDeviceID     = "FACEAGENT_DEVICE_ID"     // device.id
)

// Config is the agent's configuration: the agent tables of config.toml.
// Start from DefaultConfig; Load decodes a file over it strictly.
type Config struct {
	Device    DeviceConfig     `toml:"device"`
	API       APIConfig        `toml:"api"`
	Capture   CaptureConfig    `toml:"capture"`
	Session   SessionConfig    `toml:"session"`
	MQTT      MQTTConfig       `toml:"mqtt"`
	Inference inference.Config `toml:"inference"`
	LED       LEDConfig        `toml:"led"`
	Log       LogConfig        `toml:"log"`
	// Offline spool, device identity, clock and metrics (device_config.go).
	Spool    SpoolConfig    `toml:"spool"`
	Identity IdentityConfig `toml:"identity"`
	Clock    ClockConfig    `toml:"clock"`
	Metrics  MetricsConfig  `toml:"metrics"`
}

// DeviceConfig identifies the kiosk.
type DeviceConfig struct {
	// ID names the device in MQTT topics, events and submissions:
	// 1–64 of [A-Za-z0-9._-]. Empty means derived from the hostname.
	ID string `toml:"id"`
}

// APIConfig is the loopback HTTP API used by the kiosk app.
type APIConfig struct {
	// Listen is host:port; "" disables the API. Must be a loopback address
	// unless AllowNonLoopback.
	Listen           string `toml:"listen"`
	AllowNonLoopback bool   `toml:"allow_non_loopback"`
	// AllowedOrigins lists browser origins (e.g. "http://localhost:3000")
	// allowed to call the API with CORS; empty refuses every request that
	// carries an Origin header.
	AllowedOrigins []string `toml:"allowed_origins"`
}

// CaptureConfig selects and paces the camera.
type CaptureConfig struct {
	// Source is the camera kind: "replay" (image files) or "v4l2" (a
	// Video4Linux2 camera; see capture_config.go for its fields).
	Source string `toml:"source"`
	// ReplayPath is an image file or a directory of images (replay only).
	ReplayPath string `toml:"replay_path"`
	// FPS is the replay frame rate, or the rate requested from a v4l2
	// camera (the closest it offers is used), frames per second.
	FPS float64 `toml:"fps"`
	// Loop restarts the replay after the last image.
	Loop bool `toml:"loop"`
	// Window is the capture window of one round.
	Window time.Duration `toml:"window"`
	// AnalyzeFPS caps analysed frames per second (a frame is analysed as
	// soon as the previous analysis ended, at most this often).
	AnalyzeFPS float64 `toml:"analyze_fps"`
	// AnalyzeDuty caps the share of time spent analysing frames while
	// capturing, (0,1]: after an analysis that took d the next starts no
	// sooner than d·(1−duty)/duty later (0.5: at most half of one core).
	AnalyzeDuty float64 `toml:"analyze_duty"`
	V4L2CaptureConfig
}

// SessionConfig is the verification policy.
type SessionConfig struct {
	Timeout         time.Duration `toml:"timeout"`
	PassFrames      int           `toml:"pass_frames"`
	LocalAttempts   int           `toml:"local_attempts"`
	UploadRetries   int           `toml:"upload_retries"`
	RetryBackoff    time.Duration `toml:"retry_backoff"`
	RetryBackoffMax time.Duration `toml:"retry_backoff_max"`
	UploadTimeout   time.Duration `toml:"upload_timeout"`
	StatusTimeout   time.Duration `toml:"status_timeout"`
	PollInitial     time.Duration `toml:"poll_initial"`
	PollMin         time.Duration `toml:"poll_min"`
	PollMax         time.Duration `toml:"poll_max"`
	PollFailures    int           `toml:"poll_failures"`
	ResultHold      time.Duration `toml:"result_hold"`
	// StatusWait is the long poll asked of the gateway per status call
	// (GET /v1/status?wait=…); the call's timeout is StatusWait +
	// StatusTimeout. 0 polls without waiting.
	StatusWait time.Duration `toml:"status_wait"`
	// CropScale is the side of the uploaded crop as a multiple of the face
	// box's longer side, about its centre, capped at MaxCropFraction (0.9)
	// × the frame's shorter side (CropRect).
	CropScale float64 `toml:"crop_scale"`
	// CropMaxSide bounds the uploaded crop's longer side, pixels.
	CropMaxSide int `toml:"crop_max_side"`
	// JPEGQuality of the uploaded crop, 1–100.
	JPEGQuality int `toml:"jpeg_quality"`
	// GatewayHosts, when non-empty, lists the only base_url hosts (host or
	// host:port) a launch may name.
	GatewayHosts []string `toml:"gateway_hosts"`
}

// MQTTConfig is fleet monitoring. The password comes from
// FACEAGENT_MQTT_PASSWORD or PasswordFile, never from this file.
type MQTTConfig struct {
	// Broker URL; "" runs without MQTT.
	Broker         string        `toml:"broker"`
	Prefix         string        `toml:"prefix"`
	QoS            int           `toml:"qos"`
	KeepAlive      time.Duration `toml:"keepalive"`
	ConnectTimeout time.Duration `toml:"connect_timeout"`
	Username       string        `toml:"username"`
	PasswordFile   string        `toml:"password_file"`
	CAFile         string        `toml:"ca_file"`
	QueueSize      int           `toml:"queue_size"`
	// Password is set from the environment or PasswordFile by Load.
	Password string `toml:"-"`
	// Fleet interface: client id, state, TLS client certificate, signed
	// commands, telemetry, Home Assistant (mqtt_config.go).
	MQTTFleetConfig
}

// LEDConfig selects the status-light driver and, for "gpio", the GPIO
// line names (as the kernel names them; gpioinfo lists them).
type LEDConfig struct {
	Driver    string `toml:"driver"`     // "log" or "gpio"
	Green     string `toml:"green"`      // gpio: required, e.g. "GPIO17"
	Red       string `toml:"red"`        // gpio: required, e.g. "GPIO27"
	Blue      string `toml:"blue"`       // gpio: optional ("" = not fitted)
	ActiveLow bool   `toml:"active_low"` // gpio: a lit LED is driven low
}

// LogConfig sets logging.
type LogConfig struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// DefaultConfig returns the configuration used for every absent field;
// config.toml documents the same values.
func DefaultConfig() Config {
	sc := session.DefaultConfig()
	return Config{
		Device: DeviceConfig{ID: ""},
		API:    APIConfig{Listen: "127.0.0.1:8470"},
		Capture: CaptureConfig{
			Source:      "replay",
			ReplayPath:  "testdata/camera",
			FPS:         10,
			Loop:        true,
			Window:      sc.CaptureWindow,
			AnalyzeFPS:  25,
			AnalyzeDuty: sc.AnalyzeDuty,

			V4L2CaptureConfig: DefaultV4L2CaptureConfig(),
		},
		Session: SessionConfig{
			Timeout:         sc.Timeout,
			PassFrames:      sc.PassFrames,
			LocalAttempts:   sc.LocalAttempts,
			UploadRetries:   sc.UploadRetries,
			RetryBackoff:    sc.RetryBackoff,
			RetryBackoffMax: sc.RetryBackoffMax,
			UploadTimeout:   20 * time.Second,
			StatusTimeout:   5 * time.Second,
			StatusWait:      sc.StatusWait,
			PollInitial:     sc.PollInitial,
			PollMin:         sc.PollMin,
			PollMax:         sc.PollMax,
			PollFailures:    sc.PollFailures,
			ResultHold:      sc.ResultHold,
			CropScale:       3,
			CropMaxSide:     640,
			JPEGQuality:     90,
		},
		MQTT: MQTTConfig{
			Broker:         "tcp://127.0.0.1:1883",
			Prefix:         mqtt.DefaultPrefix,
			QoS:            1,
			KeepAlive:      30 * time.Second,
			ConnectTimeout: 10 * time.Second,
			QueueSize:      256,

			MQTTFleetConfig: defaultMQTTFleetConfig(),
		},
		Inference: inference.DefaultConfig(),
		LED:       LEDConfig{Driver: led.DriverLog, Green: "GPIO17", Red: "GPIO27"},
		Log:       LogConfig{Level: "info", Format: "text"},
		Spool:     defaultSpoolConfig(),
		Identity:  defaultIdentityConfig(),
		Metrics:   defaultMetricsConfig(),
	}
}

// SessionPolicy converts the config into the session state machine's policy.
func (c Config) SessionPolicy() session.Config {
	return session.Config{
		CaptureWindow:   c.Capture.Window,
		AnalyzeInterval: time.Duration(float64(time.Second) / c.Capture.AnalyzeFPS),
		AnalyzeDuty:     c.Capture.AnalyzeDuty,
		PassFrames:      c.Session.PassFrames,
		LocalAttempts:   c.Session.LocalAttempts,
		Timeout:         c.Session.Timeout,
		UploadRetries:   c.Session.UploadRetries,
		RetryBackoff:    c.Session.RetryBackoff,
		RetryBackoffMax: c.Session.RetryBackoffMax,
		PollInitial:     c.Session.PollInitial,
		StatusWait:      c.Session.StatusWait,
		PollMin:         c.Session.PollMin,
		PollMax:         c.Session.PollMax,
		PollFailures:    c.Session.PollFailures,
		ResultHold:      c.Session.ResultHold,
		Guide:           session.GuideConfigOf(c.Inference),
	}
}

// Load reads the TOML file at path over DefaultConfig (unknown tables and
// keys are errors naming them), applies environment overrides (FACEAGENT_DEVICE_ID,
// FACEAGENT_MQTT_PASSWORD, then mqtt.password_file if the variable is
// unset), derives device.id from the hostname when empty, and validates.
// An empty path loads the defaults.
func Load(path string) (Config, error) {
	cfg := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		if cfg, err = Decode(string(b)); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if v := os.Getenv(EnvDeviceID); v != "" {
		cfg.Device.ID = v
	}
	if v, ok := os.LookupEnv(EnvMQTTPassword); ok {
		cfg.MQTT.Password = v
	} else if cfg.MQTT.PasswordFile != "" {
		b, err := os.ReadFile(cfg.MQTT.PasswordFile)
		if err != nil {
			return Config{}, fmt.Errorf("mqtt.password_file: %w", err)
		}
		cfg.MQTT.Password = strings.TrimRight(string(b), "\r\n")
	}
	if err := cfg.MQTT.loadSecrets(); err != nil { // command secret (mqtt_config.go)
		return Config{}, err
	}
	if cfg.Device.ID == "" {
		cfg.Device.ID = DeviceIDFromHostname()
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// agentTables are the top-level tables of the agent's config file; any
// other table (a misspelt [sesion], another program's [gateway]) and
// unknown keys inside them are errors.
var agentTables = map[string]bool{
	"device": true, "api": true, "capture": true, "session": true,
	"mqtt": true, "inference": true, "led": true, "log": true,
	"spool": true, "identity": true, "clock": true, "metrics": true,
}

// Decode parses TOML text over DefaultConfig without validating. Unknown
// top-level tables are rejected by name ("unknown table [sesion] (did you
// mean [session]?)"), unknown keys by their dotted name, durations written
// as bare numbers with a hint to quote them with a unit
// (config_strict.go); syntax errors carry the line.
func Decode(text string) (Config, error) {
	if err := bareDurations(text); err != nil {
		return Config{}, err
	}
	cfg := DefaultConfig()
	md, err := toml.Decode(text, &cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Config{}, fmt.Errorf("line %d: %s%s", pe.Position.Line, pe.Message, durationHint(pe.Message))
		}
		return Config{}, err
	}
	if err := unknownTables(md); err != nil {
		return Config{}, err
	}
	var keys []string
	for _, k := range md.Undecoded() {
		keys = append(keys, k.String())
	}
	if len(keys) > 0 {
		hint := ""
		if slicesContains(keys, "mqtt.password") {
			hint = " (the MQTT password comes from " + EnvMQTTPassword + " or mqtt.password_file)"
		}
		return Config{}, fmt.Errorf("unknown key %s%s", strings.Join(keys, ", "), hint)
	}
	return cfg, nil
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// DeviceIDFromHostname derives a device id from the hostname: lowercased,
// characters outside [a-z0-9._-] replaced by '-', at most 64 bytes;
// "faceagent" if the hostname is unusable.
func DeviceIDFromHostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "faceagent"
	}
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		if b.Len() >= 64 {
			break
		}
	}
	id := strings.Trim(b.String(), "-.")
	if id == "" {
		return "faceagent"
	}
	return id
}

// ValidDeviceID reports whether id is 1–64 of [A-Za-z0-9._-].
func ValidDeviceID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Validate reports the first invalid field by its dotted name, its value
// and the rule, e.g. "mqtt.keepalive: must be ≥ 5s, got 0s".
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
	}
	durAtLeast := func(field string, d, lo time.Duration) error {
		if d < lo {
			return bad(field, "must be ≥ %v, got %v", lo, d)
		}
		return nil
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

	if !ValidDeviceID(c.Device.ID) {
		return bad("device.id", "must be 1–64 characters of [A-Za-z0-9._-], got %q", c.Device.ID)
	}
	if c.API.Listen != "" {
		host, port, err := net.SplitHostPort(c.API.Listen)
		if err != nil || port == "" {
			return bad("api.listen", "must be host:port, got %q", c.API.Listen)
		}
		if !c.API.AllowNonLoopback && !isLoopbackHost(host) {
			return bad("api.listen", "must be a loopback address (127.0.0.1, ::1, localhost) unless api.allow_non_loopback = true, got %q", c.API.Listen)
		}
	}
	for i, o := range c.API.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return bad(fmt.Sprintf("api.allowed_origins[%d]", i), "must be an origin like http://localhost:3000, got %q", o)
		}
	}

	switch c.Capture.Source {
	case "replay":
		if c.Capture.ReplayPath == "" {
			return bad("capture.replay_path", "must be set when capture.source = \"replay\"")
		}
	case "v4l2":
		if err := c.Capture.V4L2CaptureConfig.validate(); err != nil {
			return err
		}
	default:
		return bad("capture.source", "must be \"replay\" or \"v4l2\", got %q", c.Capture.Source)
	}
	if !finite(c.Capture.FPS) || c.Capture.FPS <= 0 || c.Capture.FPS > 120 {
		return bad("capture.fps", "must be in (0,120], got %v", c.Capture.FPS)
	}
	if err := durAtLeast("capture.window", c.Capture.Window, 500*time.Millisecond); err != nil {
		return err
	}
	if !finite(c.Capture.AnalyzeFPS) || c.Capture.AnalyzeFPS <= 0 || c.Capture.AnalyzeFPS > 60 {
		return bad("capture.analyze_fps", "must be in (0,60], got %v", c.Capture.AnalyzeFPS)
	}
	if !finite(c.Capture.AnalyzeDuty) || c.Capture.AnalyzeDuty <= 0 || c.Capture.AnalyzeDuty > 1 {
		return bad("capture.analyze_duty", "must be in (0,1], got %v", c.Capture.AnalyzeDuty)
	}

	s := c.Session
	if err := durAtLeast("session.timeout", s.Timeout, c.Capture.Window); err != nil {
		return bad("session.timeout", "must be ≥ capture.window (%v), got %v", c.Capture.Window, s.Timeout)
	}
	switch {
	case s.PassFrames < 1 || s.PassFrames > 100:
		return bad("session.pass_frames", "must be in [1,100], got %d", s.PassFrames)
	case s.LocalAttempts < 1 || s.LocalAttempts > 20:
		return bad("session.local_attempts", "must be in [1,20], got %d", s.LocalAttempts)
	case s.UploadRetries < 0 || s.UploadRetries > 20:
		return bad("session.upload_retries", "must be in [0,20], got %d", s.UploadRetries)
	case s.PollFailures < 0 || s.PollFailures > 100:
		return bad("session.poll_failures", "must be in [0,100], got %d", s.PollFailures)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		lo   time.Duration
	}{
		{"session.retry_backoff", s.RetryBackoff, 10 * time.Millisecond},
		{"session.upload_timeout", s.UploadTimeout, time.Second},
		{"session.status_timeout", s.StatusTimeout, 500 * time.Millisecond},
		{"session.poll_initial", s.PollInitial, 0},
		{"session.status_wait", s.StatusWait, 0},
		{"session.poll_min", s.PollMin, 50 * time.Millisecond},
		{"session.result_hold", s.ResultHold, 0},
	} {
		if err := durAtLeast(d.name, d.v, d.lo); err != nil {
			return err
		}
	}
	if s.RetryBackoffMax < s.RetryBackoff {
		return bad("session.retry_backoff_max", "must be ≥ session.retry_backoff (%v), got %v", s.RetryBackoff, s.RetryBackoffMax)
	}
	if s.PollMax < s.PollMin {
		return bad("session.poll_max", "must be ≥ session.poll_min (%v), got %v", s.PollMin, s.PollMax)
	}
	if !finite(s.CropScale) || s.CropScale < 1 || s.CropScale > 10 {
		return bad("session.crop_scale", "must be in [1,10], got %v", s.CropScale)
	}
	if s.CropMaxSide < 112 || s.CropMaxSide > 4096 {
		return bad("session.crop_max_side", "must be in [112,4096] pixels, got %d", s.CropMaxSide)
	}
	if s.JPEGQuality < 1 || s.JPEGQuality > 100 {
		return bad("session.jpeg_quality", "must be in [1,100], got %d", s.JPEGQuality)
	}
	for i, h := range s.GatewayHosts {
		if h == "" || strings.ContainsAny(h, "/ ?#@") {
			return bad(fmt.Sprintf("session.gateway_hosts[%d]", i), "must be a host or host:port, got %q", h)
		}
	}

	m := c.MQTT
	if m.Broker != "" {
		u, err := url.Parse(m.Broker)
		if err != nil || u.Host == "" {
			return bad("mqtt.broker", "must be a URL like tcp://127.0.0.1:1883 or \"\" to disable, got %q", m.Broker)
		}
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
		default:
			return bad("mqtt.broker", "scheme must be tcp, ssl, tls, mqtts, ws or wss, got %q", u.Scheme)
		}
		if u.User != nil {
			return bad("mqtt.broker", "must not embed credentials; use mqtt.username and %s", EnvMQTTPassword)
		}
		if err := m.validateBrokerTransport(u); err != nil { // mqtt_config.go
			return err
		}
	}
	if !mqtt.TopicPrefixValid(m.Prefix) {
		return bad("mqtt.prefix", "must be topic levels without wildcards, leading/trailing '/' or '$', got %q", m.Prefix)
	}
	if m.QoS < 0 || m.QoS > 2 {
		return bad("mqtt.qos", "must be 0, 1 or 2, got %d", m.QoS)
	}
	if err := durAtLeast("mqtt.keepalive", m.KeepAlive, 5*time.Second); err != nil {
		return err
	}
	if err := durAtLeast("mqtt.connect_timeout", m.ConnectTimeout, time.Second); err != nil {
		return err
	}
	if m.QueueSize < 1 || m.QueueSize > 100000 {
		return bad("mqtt.queue_size", "must be in [1,100000], got %d", m.QueueSize)
	}
	if err := m.MQTTFleetConfig.validate(); err != nil {
		return err
	}
	if m.CAFile != "" {
		if _, err := os.Stat(m.CAFile); err != nil {
			return bad("mqtt.ca_file", "%v", err)
		}
	}

	if err := c.Inference.Validate(); err != nil {
		return err // already named "inference.<field>"
	}
	if err := c.LED.validate(); err != nil {
		return err
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return bad("log.format", "must be text or json, got %q", c.Log.Format)
	}
	if err := c.validateDeviceTables(); err != nil {
		return err
	}
	return nil
}

// isLoopbackHost reports whether host (no port) is "localhost" or a
// loopback IP.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
