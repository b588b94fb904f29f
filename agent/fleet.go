package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faceverify/faceverify/agent/config"
	"github.com/faceverify/faceverify/agent/control"
	"github.com/faceverify/faceverify/agent/health"
	"github.com/faceverify/faceverify/agent/host"
	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/agent/session"
	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/uplink/mqtt"
)

// FleetOptions configure the agent's side of the MQTT fleet interface.
type FleetOptions struct {
	// ConfigPath is the file reload-config reads again; "" refuses
	// reload-config (the agent runs on defaults).
	ConfigPath string
	// LogLevel, when set, is changed live by reload-config (log.level).
	LogLevel *slog.LevelVar
	// SysfsRoot is where /sys is mounted (default "/sys"); tests point it
	// at a fixture tree.
	SysfsRoot string
	// HealthInterval is how often the agent's health is mirrored into the
	// retained status (default 2s).
	HealthInterval time.Duration
	// IdentifyDuration is how long identify blinks when the command does
	// not say (default 10s).
	IdentifyDuration time.Duration
}

// fleetState is the agent's live state for the fleet interface: values
// reload-config swaps and readings for telemetry.
type fleetState struct {
	live atomic.Pointer[liveConfig]
	led  atomic.Value // led.State last set by the session loop

	mu      sync.Mutex
	latency map[string]latencySnap // per stage, at the previous report
}

// liveConfig is the part of the configuration reload-config can change
// without a restart; it applies from the next session.
type liveConfig struct {
	policy       session.Config
	gatewayHosts []string
}

type latencySnap struct {
	sum   float64 // seconds
	count uint64
}

// sessionPolicy is the policy of the next session: the reloaded one, or
// the configured one.
func (a *Agent) sessionPolicy() session.Config {
	if l := a.fleet.live.Load(); l != nil {
		return l.policy
	}
	return a.policy
}

// gatewayHosts are the base_url hosts a launch may name now.
func (a *Agent) gatewayHosts() []string {
	if l := a.fleet.live.Load(); l != nil {
		return l.gatewayHosts
	}
	return a.cfg.Session.GatewayHosts
}

// NewMQTTClient builds the fleet client from cfg.MQTT and cfg.Device; nil
// (and no error) when mqtt.broker is empty.
func NewMQTTClient(cfg config.Config, version string, logger *slog.Logger) (*mqtt.Client, error) {
	m := cfg.MQTT
	if m.Broker == "" {
		return nil, nil
	}
	tel := m.TelemetryInterval
	if tel == 0 {
		tel = -1
	}
	c, err := mqtt.New(mqtt.Options{
		Broker: m.Broker, DeviceID: cfg.Device.ID, Prefix: m.Prefix, ClientID: m.ClientID,
		QoS: byte(m.QoS), KeepAlive: m.KeepAlive, ConnectTimeout: m.ConnectTimeout,
		MaxReconnectInterval: m.MaxReconnectInterval,
		Username:             m.Username, Password: m.Password,
		CAFile: m.CAFile, CertFile: m.CertFile, KeyFile: m.KeyFile,
		StateDir: m.StateDir, QueueSize: m.QueueSize, Version: version,
		CommandSecret: m.CommandSecret, CommandWindow: m.CommandWindow,
		TelemetryInterval: tel, HADiscovery: m.HADiscovery, HADiscoveryPrefix: m.HAPrefix,
		Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	if len(m.CommandSecret) == 0 {
		logger.Warn("mqtt: no command secret (" + config.EnvMQTTCommandSecret + " or mqtt.command_secret_file): remote commands are refused")
	}
	return c, nil
}

// FleetClient is the MQTT client as the fleet interface drives it
// (*mqtt.Client): commands, telemetry and the retained status.
type FleetClient interface {
	control.Registrar
	// SetTelemetry sets the function that fills each telemetry report.
	SetTelemetry(fill func(*mqttapi.Telemetry))
	// SetDegraded publishes the retained status degraded with reason, or
	// online when reason is "".
	SetDegraded(reason string)
}

// ServeFleet registers the agent's commands (verify, cancel, self-test,
// identify, reload-config) and telemetry on mc, before mc.Run. The
// returned function mirrors the agent's health into mc's retained status
// (degraded with the health reasons, or online) until ctx ends; run it
// alongside mc.Run.
func (a *Agent) ServeFleet(mc FleetClient, o FleetOptions) func(context.Context) error {
	if o.SysfsRoot == "" {
		o.SysfsRoot = "/sys"
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = 2 * time.Second
	}
	if o.IdentifyDuration <= 0 {
		o.IdentifyDuration = 10 * time.Second
	}
	control.Register(mc, a.commands(o), a.log) // commands.go
	mc.SetTelemetry(func(t *mqttapi.Telemetry) { a.fillTelemetry(t, o) })
	return func(ctx context.Context) error {
		tick := time.NewTicker(o.HealthInterval)
		defer tick.Stop()
		for {
			mc.SetDegraded(a.degradedReason())
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
	}
}

// degradedReason is "" when the agent is healthy, else the reasons of its
// failing components (the MQTT connection aside), lower snake case,
// sorted, comma-separated.
func (a *Agent) degradedReason() string {
	if a.health == nil {
		return ""
	}
	r := a.health.Report()
	if r.Status != health.Degraded {
		return ""
	}
	seen := map[string]bool{}
	var parts []string
	for name, c := range r.Components {
		// The MQTT connection is up whenever this status can be published.
		if c.OK || name == "mqtt" || seen[statusReason(c.Reason)] {
			continue
		}
		seen[statusReason(c.Reason)] = true
		parts = append(parts, statusReason(c.Reason))
	}
	if len(parts) == 0 {
		return ""
	}
	sort.Strings(parts)
	s := strings.Join(parts, ",")
	if len(s) > 256 {
		s = s[:256]
		s = strings.TrimRight(s[:strings.LastIndexByte(s, ',')+1], ",")
	}
	return s
}

// statusReason maps a health reason to [a-z0-9_]+.
func statusReason(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "unknown"
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// IdentifyResult is the result of identify.
type IdentifyResult struct {
	// Effect is "blinking" when the LED driver shows its identify pattern,
	// "logged" when it has none (the log driver) and the request was only
	// logged.
	Effect     string `json:"effect"`
	DurationMS int64  `json:"duration_ms"`
}

// fleetIdentify blinks the identify pattern for the body's duration_ms
// (1000–120000, default FleetOptions.IdentifyDuration).
func (a *Agent) fleetIdentify(in control.Input, o FleetOptions) (IdentifyResult, error) {
	var body struct {
		DurationMS *int64 `json:"duration_ms"`
	}
	if err := json.Unmarshal(in.Body, &body); err != nil {
		return IdentifyResult{}, &control.RequestError{Code: "bad_request", Message: "body: " + err.Error()}
	}
	d := o.IdentifyDuration
	if body.DurationMS != nil {
		if *body.DurationMS < 1000 || *body.DurationMS > 120000 {
			return IdentifyResult{}, control.BadField("duration_ms", "must be in [1000,120000], got %d", *body.DurationMS)
		}
		d = time.Duration(*body.DurationMS) * time.Millisecond
	}
	res := IdentifyResult{Effect: "logged", DurationMS: d.Milliseconds()}
	if id, ok := a.d.LEDs.(led.Identifier); ok {
		id.Identify(d)
		res.Effect = "blinking"
		if h, ok := a.d.LEDs.(led.HealthReporter); ok && h.Health().Driver == led.DriverLog {
			res.Effect = "logged"
		}
	}
	a.log.Info("identify", "source", in.Source, "duration", d, "effect", res.Effect)
	return res, nil
}

// SelfTestResult is the result of self-test.
type SelfTestResult struct {
	Passed bool            `json:"passed"`
	Checks []SelfTestCheck `json:"checks"`
}

// SelfTestCheck is one check of self-test.
type SelfTestCheck struct {
	Name  string  `json:"name"`
	OK    bool    `json:"ok"`
	Error string  `json:"error,omitempty"`
	MS    float64 `json:"ms"`
}

// selfTestImage is a small mid-grey frame for the analyzer check.
var selfTestImage = func() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 160, 120))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = 128, 128, 128, 255
	}
	return img
}()

// fleetSelfTest runs the self checks: the agent runs, the analyzer answers
// on a blank frame, the camera and the other components are healthy, the
// MQTT state directory is writable and the CPU is not overheating.
func (a *Agent) fleetSelfTest(ctx context.Context, o FleetOptions) SelfTestResult {
	res := SelfTestResult{Passed: true}
	check := func(name string, f func() error) {
		start := time.Now()
		err := f()
		c := SelfTestCheck{Name: name, OK: err == nil, MS: float64(time.Since(start).Microseconds()) / 1000}
		if err != nil {
			c.Error = err.Error()
			res.Passed = false
		}
		res.Checks = append(res.Checks, c)
	}
	check("agent", func() error {
		select {
		case <-a.stopped:
			return errors.New("the agent is stopping")
		case <-a.ready:
			return nil
		default:
			return errors.New("the agent has not started")
		}
	})
	check("analyzer", func() error {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := a.d.Analyzer.Analyze(actx, selfTestImage, inference.Options{})
		return err
	})
	check("camera", func() error {
		if h := a.CameraHealth(); h.State != capture.HealthOK {
			return fmt.Errorf("%s: %s", h.State, h.Reason)
		}
		return nil
	})
	check("health", func() error {
		if r := a.degradedReason(); r != "" {
			return fmt.Errorf("degraded: %s", r)
		}
		return nil
	})
	if dir := a.cfg.MQTT.StateDir; dir != "" && a.cfg.MQTT.Broker != "" {
		check("state_dir", func() error {
			f, err := os.CreateTemp(dir, ".selftest-*")
			if err != nil {
				return err
			}
			f.Close()
			return os.Remove(f.Name())
		})
	}
	if temp, ok := host.CPUTemperature(o.SysfsRoot); ok {
		check("cpu_temperature", func() error {
			if temp >= host.CPUHotC {
				return fmt.Errorf("%.1f °C ≥ %.0f °C", temp, host.CPUHotC)
			}
			return nil
		})
	}
	a.log.Info("self-test", "passed", res.Passed)
	return res
}

// ReloadResult is the result of reload-config.
type ReloadResult struct {
	Applied         []string `json:"applied"`          // changed keys now in effect (from the next session)
	RestartRequired []string `json:"restart_required"` // changed keys that need a restart; not applied
}

// liveKeys are the config keys reload-config applies without a restart.
var liveKeys = map[string]bool{
	"capture.window": true, "capture.analyze_fps": true, "capture.analyze_duty": true, "session.status_wait": true,
	"session.timeout": true, "session.pass_frames": true, "session.local_attempts": true,
	"session.upload_retries": true, "session.retry_backoff": true, "session.retry_backoff_max": true,
	"session.poll_initial": true, "session.poll_min": true, "session.poll_max": true,
	"session.poll_failures": true, "session.result_hold": true, "session.gateway_hosts": true,
}

var reloadMu sync.Mutex

// fleetReload reads the config file again, validates it and applies the
// session policy, the allowed gateway hosts and (with FleetOptions.LogLevel)
// the log level; other changes are reported as needing a restart. An
// invalid file changes nothing.
func (a *Agent) fleetReload(o FleetOptions) (ReloadResult, error) {
	if o.ConfigPath == "" {
		return ReloadResult{}, &control.RequestError{Code: "unsupported", Message: "the agent was started without a config file"}
	}
	reloadMu.Lock()
	defer reloadMu.Unlock()
	next, err := config.Load(o.ConfigPath)
	if err != nil {
		return ReloadResult{}, &control.RequestError{Code: "invalid_config", Message: err.Error()}
	}
	cur := a.cfg
	if l := a.fleet.live.Load(); l != nil {
		cur.Session.GatewayHosts = l.gatewayHosts
		p := l.policy
		cur.Capture.Window, cur.Session.Timeout, cur.Session.PassFrames = p.CaptureWindow, p.Timeout, p.PassFrames
		cur.Capture.AnalyzeFPS = float64(time.Second) / float64(p.AnalyzeInterval)
		cur.Capture.AnalyzeDuty, cur.Session.StatusWait = p.AnalyzeDuty, p.StatusWait
		cur.Session.LocalAttempts, cur.Session.UploadRetries = p.LocalAttempts, p.UploadRetries
		cur.Session.RetryBackoff, cur.Session.RetryBackoffMax = p.RetryBackoff, p.RetryBackoffMax
		cur.Session.PollInitial, cur.Session.PollMin, cur.Session.PollMax = p.PollInitial, p.PollMin, p.PollMax
		cur.Session.PollFailures, cur.Session.ResultHold = p.PollFailures, p.ResultHold
	}
	if o.LogLevel != nil {
		cur.Log.Level = strings.ToLower(o.LogLevel.Level().String())
	}
	res := ReloadResult{Applied: []string{}, RestartRequired: []string{}}
	for _, k := range config.ConfigDiff(cur, next) {
		switch {
		case liveKeys[k]:
			res.Applied = append(res.Applied, k)
		case k == "log.level" && o.LogLevel != nil:
			res.Applied = append(res.Applied, k)
		default:
			res.RestartRequired = append(res.RestartRequired, k)
		}
	}
	a.fleet.live.Store(&liveConfig{policy: next.SessionPolicy(), gatewayHosts: next.Session.GatewayHosts})
	if o.LogLevel != nil {
		var lvl slog.Level
		if lvl.UnmarshalText([]byte(strings.ToUpper(next.Log.Level))) == nil {
			o.LogLevel.Set(lvl)
		}
	}
	a.log.Info("config reloaded", "applied", strings.Join(res.Applied, ","), "restart_required", strings.Join(res.RestartRequired, ","))
	return res, nil
}

// fillTelemetry adds the agent's readings to a telemetry report.
func (a *Agent) fillTelemetry(t *mqttapi.Telemetry, o FleetOptions) {
	t.Session = "idle"
	if v, ok := a.Session(); ok {
		if v.FinishedAt == nil {
			t.Session = v.State
		} else {
			t.Outcome = v.State
		}
	}
	if s, ok := a.fleet.led.Load().(led.State); ok {
		t.LED = string(s)
	} else {
		select {
		case <-a.ready: // Run shows Idle before the first session
			t.LED = string(led.Idle)
		default:
		}
	}
	if temp, ok := host.CPUTemperature(o.SysfsRoot); ok {
		t.CPUTempC = &temp
	}
	dropped, analyzed := a.dropFrames.Load(), a.analyzed.Load()
	t.Camera = &mqttapi.CameraTelemetry{FramesDropped: &dropped, FramesAnalyzed: &analyzed}
	if a.metrics != nil {
		fps := a.metrics.FPS()
		t.Camera.FPS = &fps
	}
	t.Models = a.modelLatency()
	if sp := a.d.Spool; sp != nil {
		st := sp.Stats()
		b := st.Bytes
		t.Spool = &mqttapi.SpoolTelemetry{Depth: st.Records, Bytes: &b}
	}
}

// modelLatency reads the analysis stage histograms of the agent's metrics
// registry and returns each model stage's mean over the calls since the
// previous report (stages without calls are omitted).
func (a *Agent) modelLatency() map[string]mqttapi.ModelLatency {
	if a.metrics == nil {
		return nil
	}
	mfs, err := a.metrics.Registry().Gather()
	if err != nil {
		return nil
	}
	now := map[string]latencySnap{}
	for _, mf := range mfs {
		if mf.GetName() != health.Namespace+"_analyze_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			stage := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "stage" {
					stage = l.GetValue()
				}
			}
			if h := m.GetHistogram(); h != nil && stage != "" && stage != "total" && stage != "prepare" {
				now[stage] = latencySnap{sum: h.GetSampleSum(), count: h.GetSampleCount()}
			}
		}
	}
	a.fleet.mu.Lock()
	prev := a.fleet.latency
	a.fleet.latency = now
	a.fleet.mu.Unlock()
	out := map[string]mqttapi.ModelLatency{}
	for stage, s := range now {
		p := prev[stage]
		if s.count <= p.count {
			continue
		}
		n := s.count - p.count
		out[stage] = mqttapi.ModelLatency{MeanMS: (s.sum - p.sum) * 1000 / float64(n), Count: n}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// mqttHealthProbe is the mqtt component's health: ok while c is
// connected, else the reason of its last failed connection attempt when c
// reports one (mqtt.Client.ConnectFailure: "mqtt_not_authorised",
// "mqtt_tls", "mqtt_connection_refused", …), else "mqtt".
func mqttHealthProbe(c interface{ Connected() bool }) func() (bool, string) {
	f, _ := c.(interface{ ConnectFailure() string })
	return func() (bool, string) {
		if c.Connected() {
			return true, ""
		}
		if f != nil {
			if r := f.ConnectFailure(); r != "" {
				return false, r
			}
		}
		return false, mqtt.ReasonMQTTConnecting
	}
}
