// Package config is the kiosk agent's configuration: the tables of its
// config.toml, their defaults, strict decoding (internal/conf: unknown
// tables and keys refused with line and did-you-mean, durations with
// units), environment overrides and validation whose errors name the
// dotted field, its value and the rule ("mqtt.keepalive: must be ≥ 5s,
// got 0s"). Limits sit in struct tags next to each field; Validate adds
// the rules that relate fields or parse values.
package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/agent/session"
	mqtt "github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/conf"
	"github.com/faceverify/faceverify/internal/validate"
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
	// Offline spool, device identity, clock and metrics (device.go).
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
	// Video4Linux2 camera; see capture.go for its fields).
	Source string `toml:"source" oneof:"replay|v4l2"`
	// ReplayPath is an image file or a directory of images (replay only).
	ReplayPath string `toml:"replay_path" nonempty:"true" when:"capture.source=replay" rule:"must be set when capture.source = \"replay\""`
	// FPS is the replay frame rate, or the rate requested from a v4l2
	// camera (the closest it offers is used), frames per second.
	FPS float64 `toml:"fps" gt:"0" max:"120"`
	// Loop restarts the replay after the last image.
	Loop bool `toml:"loop"`
	// Window is the capture window of one round.
	Window time.Duration `toml:"window" min:"500ms"`
	// AnalyzeFPS caps analysed frames per second (a frame is analysed as
	// soon as the previous analysis ended, at most this often).
	AnalyzeFPS float64 `toml:"analyze_fps" gt:"0" max:"60"`
	// AnalyzeDuty caps the share of time spent analysing frames while
	// capturing, (0,1]: after an analysis that took d the next starts no
	// sooner than d·(1−duty)/duty later (0.5: at most half of one core),
	// except once per round, before the frame that can end it
	// (session.Config.AnalyzeDuty).
	AnalyzeDuty float64 `toml:"analyze_duty" gt:"0" max:"1"`
	V4L2CaptureConfig
}

// SessionConfig is the verification policy.
type SessionConfig struct {
	Timeout         time.Duration `toml:"timeout"` // ≥ capture.window
	PassFrames      int           `toml:"pass_frames" min:"1" max:"100"`
	LocalAttempts   int           `toml:"local_attempts" min:"1" max:"20"`
	UploadRetries   int           `toml:"upload_retries" min:"0" max:"20"`
	RetryBackoff    time.Duration `toml:"retry_backoff" min:"10ms"`
	RetryBackoffMax time.Duration `toml:"retry_backoff_max"` // ≥ retry_backoff
	UploadTimeout   time.Duration `toml:"upload_timeout" min:"1s"`
	StatusTimeout   time.Duration `toml:"status_timeout" min:"500ms"`
	PollInitial     time.Duration `toml:"poll_initial" min:"0s"`
	PollMin         time.Duration `toml:"poll_min" min:"50ms"`
	PollMax         time.Duration `toml:"poll_max"` // ≥ poll_min
	PollFailures    int           `toml:"poll_failures" min:"0" max:"100"`
	ResultHold      time.Duration `toml:"result_hold" min:"0s"`
	// StatusWait is the long poll asked of the gateway per status call
	// (GET /v1/status?wait=…); the call's timeout is StatusWait +
	// StatusTimeout. 0 polls without waiting.
	StatusWait time.Duration `toml:"status_wait" min:"0s"`
	// CropScale is the side of the uploaded crop as a multiple of the face
	// box's longer side, about its centre, capped at inference.MaxCropFraction (0.9)
	// × the frame's shorter side (inference.CropRect).
	CropScale float64 `toml:"crop_scale" min:"1" max:"10"`
	// CropMaxSide bounds the uploaded crop's longer side, pixels.
	CropMaxSide int `toml:"crop_max_side" min:"112" max:"4096" unit:"pixels"`
	// JPEGQuality of the uploaded crop, 1–100.
	JPEGQuality int `toml:"jpeg_quality" min:"1" max:"100"`
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
	QoS            int           `toml:"qos" min:"0" max:"2"`
	KeepAlive      time.Duration `toml:"keepalive" min:"5s"`
	ConnectTimeout time.Duration `toml:"connect_timeout" min:"1s"`
	Username       string        `toml:"username"`
	PasswordFile   string        `toml:"password_file"`
	CAFile         string        `toml:"ca_file"`
	QueueSize      int           `toml:"queue_size" min:"1" max:"100000"`
	// Password is set from the environment or PasswordFile by Load.
	Password string `toml:"-"`
	// Fleet interface: client id, state, TLS client certificate, signed
	// commands, telemetry, Home Assistant (mqtt.go).
	MQTTFleetConfig
}

// LEDConfig selects the status-light driver and, for "gpio", the GPIO
// line names (as the kernel names them; gpioinfo lists them).
type LEDConfig struct {
	Driver    string `toml:"driver" oneof:"log|gpio|" rule:"must be \"log\" or \"gpio\""` // "log" or "gpio"
	Green     string `toml:"green"`                                                       // gpio: required, e.g. "GPIO17"
	Red       string `toml:"red"`                                                         // gpio: required, e.g. "GPIO27"
	Blue      string `toml:"blue"`                                                        // gpio: optional ("" = not fitted)
	ActiveLow bool   `toml:"active_low"`                                                  // gpio: a lit LED is driven low
}

// LogConfig sets logging.
type LogConfig struct {
	Level  string `toml:"level" oneof:"debug|info|warn|error" case:"fold"` // debug, info, warn, error
	Format string `toml:"format" oneof:"text|json"`                        // text or json
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
	if err := cfg.MQTT.loadSecrets(); err != nil { // command secret (mqtt.go)
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

// Decode parses TOML text over DefaultConfig without validating, strictly
// (internal/conf): unknown top-level tables are refused by name ("unknown
// table [sesion] (did you mean [session]?)"), unknown keys by their dotted
// name and line ("unknown key mqtt.keepalve (line 2; did you mean
// mqtt.keepalive?)"), durations written as bare numbers with a hint to
// quote them with a unit; syntax errors carry the line.
func Decode(text string) (Config, error) {
	cfg := DefaultConfig()
	if _, err := conf.Decode(text, &cfg, conf.Options{
		Program: "agent",
		Hints:   map[string]string{"mqtt.password": "the MQTT password comes from " + EnvMQTTPassword + " or mqtt.password_file"},
	}); err != nil {
		return Config{}, err
	}
	return cfg, nil
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

// Validate reports the first invalid field by its dotted name, its value
// and the rule, e.g. "mqtt.keepalive: must be ≥ 5s, got 0s": first the
// limits declared on the fields (conf.Check), then the rules that relate
// fields or parse values, table by table.
func (c Config) Validate() error {
	if err := conf.Check(c, ""); err != nil {
		return err
	}
	if !validate.IDChars(c.Device.ID, 64) {
		return conf.Errorf("device.id", "must be 1–64 characters of [A-Za-z0-9._-], got %q", c.Device.ID)
	}
	if err := c.API.validate(); err != nil {
		return err
	}
	if c.Capture.Source == "v4l2" {
		if err := c.Capture.V4L2CaptureConfig.validate(); err != nil {
			return err
		}
	}
	if err := c.Session.validate(c.Capture.Window); err != nil {
		return err
	}
	if err := c.MQTT.validate(); err != nil {
		return err
	}
	if err := c.Inference.Validate(); err != nil {
		return err // already named "inference.<field>"
	}
	if err := c.LED.validate(); err != nil {
		return err
	}
	return c.validateDeviceTables()
}

// validate checks api.listen and api.allowed_origins.
func (a APIConfig) validate() error {
	if a.Listen != "" {
		host, port, err := net.SplitHostPort(a.Listen)
		if err != nil || port == "" {
			return conf.Errorf("api.listen", "must be host:port, got %q", a.Listen)
		}
		if !a.AllowNonLoopback && !validate.LoopbackHost(host) {
			return conf.Errorf("api.listen", "must be a loopback address (127.0.0.1, ::1, localhost) unless api.allow_non_loopback = true, got %q", a.Listen)
		}
	}
	for i, o := range a.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return conf.Errorf(fmt.Sprintf("api.allowed_origins[%d]", i), "must be an origin like http://localhost:3000, got %q", o)
		}
	}
	return nil
}

// validate checks the [session] rules that relate fields; window is
// capture.window.
func (s SessionConfig) validate(window time.Duration) error {
	if s.Timeout < window {
		return conf.Errorf("session.timeout", "must be ≥ capture.window (%v), got %v", window, s.Timeout)
	}
	if s.RetryBackoffMax < s.RetryBackoff {
		return conf.Errorf("session.retry_backoff_max", "must be ≥ session.retry_backoff (%v), got %v", s.RetryBackoff, s.RetryBackoffMax)
	}
	if s.PollMax < s.PollMin {
		return conf.Errorf("session.poll_max", "must be ≥ session.poll_min (%v), got %v", s.PollMin, s.PollMax)
	}
	for i, h := range s.GatewayHosts {
		if h == "" || strings.ContainsAny(h, "/ ?#@") {
			return conf.Errorf(fmt.Sprintf("session.gateway_hosts[%d]", i), "must be a host or host:port, got %q", h)
		}
	}
	return nil
}

// validate checks the [mqtt] rules that parse values (the broker URL, the
// topic prefixes, files) and relate fields.
func (m MQTTConfig) validate() error {
	if m.Broker != "" {
		u, err := url.Parse(m.Broker)
		if err != nil || u.Host == "" {
			return conf.Errorf("mqtt.broker", "must be a URL like tcp://127.0.0.1:1883 or \"\" to disable, got %q", m.Broker)
		}
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
		default:
			return conf.Errorf("mqtt.broker", "scheme must be tcp, ssl, tls, mqtts, ws or wss, got %q", u.Scheme)
		}
		if u.User != nil {
			return conf.Errorf("mqtt.broker", "must not embed credentials; use mqtt.username and %s", EnvMQTTPassword)
		}
		if err := m.validateBrokerTransport(u); err != nil { // mqtt.go
			return err
		}
	}
	if !mqtt.TopicPrefixValid(m.Prefix) {
		return conf.Errorf("mqtt.prefix", "must be topic levels without wildcards, leading/trailing '/' or '$', got %q", m.Prefix)
	}
	if err := m.MQTTFleetConfig.validate(); err != nil {
		return err
	}
	if m.CAFile != "" {
		if _, err := os.Stat(m.CAFile); err != nil {
			return conf.Errorf("mqtt.ca_file", "%v", err)
		}
	}
	return nil
}
