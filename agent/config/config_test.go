package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/inference"
)

func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"keepalive too short", func(c *Config) { c.MQTT.KeepAlive = 0 }, "mqtt.keepalive: must be ≥ 5s, got 0s"},
		{"qos", func(c *Config) { c.MQTT.QoS = 3 }, "mqtt.qos:"},
		{"prefix wildcard", func(c *Config) { c.MQTT.Prefix = "a/#" }, "mqtt.prefix:"},
		{"broker with password", func(c *Config) { c.MQTT.Broker = "tcp://u:p@h:1883" }, "mqtt.broker:"},
		{"device id", func(c *Config) { c.Device.ID = "kiosk/1" }, "device.id:"},
		{"public listen", func(c *Config) { c.API.Listen = "0.0.0.0:8470" }, "api.listen:"},
		{"replay path", func(c *Config) { c.Capture.ReplayPath = "" }, "capture.replay_path:"},
		{"source", func(c *Config) { c.Capture.Source = "v4l3" }, "capture.source:"},
		{"fps", func(c *Config) { c.Capture.FPS = 0 }, "capture.fps:"},
		{"window", func(c *Config) { c.Capture.Window = time.Millisecond }, "capture.window:"},
		{"analysis duty", func(c *Config) { c.Capture.AnalyzeDuty = 1.5 }, "capture.analyze_duty: must be in (0,1], got 1.5"},
		{"negative status wait", func(c *Config) { c.Session.StatusWait = -time.Second }, "session.status_wait: must be ≥ 0s, got -1s"},
		{"timeout below window", func(c *Config) { c.Session.Timeout = time.Second }, "session.timeout:"},
		{"pass frames", func(c *Config) { c.Session.PassFrames = 0 }, "session.pass_frames:"},
		{"poll max below min", func(c *Config) { c.Session.PollMax = time.Millisecond }, "session.poll_max:"},
		{"crop scale", func(c *Config) { c.Session.CropScale = 0.5 }, "session.crop_scale:"},
		{"gateway host", func(c *Config) { c.Session.GatewayHosts = []string{"https://x"} }, "session.gateway_hosts[0]:"},
		{"led", func(c *Config) { c.LED.Driver = "gpio9" }, "led.driver:"},
		{"inference", func(c *Config) { c.Inference.LivenessThreshold = 2 }, "inference.liveness_threshold:"},
		{"log level", func(c *Config) { c.Log.Level = "loud" }, "log.level:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Device.ID = "k1"
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want prefix %q", err, tc.want)
			}
		})
	}
	c := DefaultConfig()
	c.Device.ID = "k1"
	if err := c.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	c.API.Listen, c.API.AllowNonLoopback = "0.0.0.0:8470", true
	if err := c.Validate(); err != nil {
		t.Errorf("non-loopback with allow_non_loopback: %v", err)
	}
}

func TestDecodeIsStrict(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"typo in a key", "[mqtt]\nkeepalve = \"10s\"\n", "unknown key mqtt.keepalve"},
		{"password in the file", "[mqtt]\npassword = \"x\"\n", "FACEAGENT_MQTT_PASSWORD"},
		{"unknown top-level key", "colour = 1\n", "unknown key colour"},
		{"syntax error with line", "[mqtt]\nqos = = 1\n", "line 2"},
		{"bad duration", "[capture]\nwindow = \"6 parsecs\"\n", "line 2"},
		{"duration without a unit", "[mqtt]\nkeepalive = \"30\"\n", `like "30s"`},
		{"misspelt table", "[sesion]\ntimeout = \"45s\"\n", "unknown table [sesion] (did you mean [session]?)"},
		{"misspelt table in dotted keys", "sesion.timeout = \"45s\"\n", "unknown table [sesion]"},
		{"another program's table", "[gateway]\nlisten = \"127.0.0.1:8080\"\n[capture]\nwindow = \"3s\"\n", "unknown table [gateway]"},
		{"two unknown tables", "[sesion]\n[partner]\nx = 1\n", "unknown tables [sesion] (did you mean [session]?), [partner]"},
		{"empty unknown table", "[metrix]\n", "unknown table [metrix] (did you mean [metrics]?)"},
		{"array of unknown tables", "[[sessions]]\nx = 1\n", "unknown table [sessions]"},
		{"bare-number duration", "[mqtt]\nkeepalive = 30\n", `mqtt.keepalive: a duration must be a string with a unit, like keepalive = "30s"`},
		{"bare-number duration, dotted", "session.timeout = 45\n", `session.timeout: a duration must be a string with a unit, like timeout = "45s"`},
		{"float duration", "[capture]\nwindow = 1.5\n", `capture.window: a duration must be a string with a unit, like window = "1.5s"`},
		{"bare-number duration in an embedded table", "[capture]\nframe_timeout = 2\n", `capture.frame_timeout: a duration`},
		{"bare-number duration in a nested fleet field", "[mqtt]\ntelemetry_interval = 30\n", `mqtt.telemetry_interval: a duration`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	cfg, err := Decode("[capture]\nwindow = \"3s\"\n[mqtt]\nkeepalive = \"45s\"\nqos = 2\n")
	if err != nil || cfg.Capture.Window != 3*time.Second || cfg.MQTT.KeepAlive != 45*time.Second || cfg.MQTT.QoS != 2 {
		t.Errorf("valid file: %v %v %v %v", err, cfg.Capture.Window, cfg.MQTT.KeepAlive, cfg.MQTT.QoS)
	}
}

// TestDurationKeys: the reflection walk finds durations at the top of a
// table, in embedded structs and in nested tables, and nothing else: a
// bare number is refused for exactly those keys.
func TestDurationKeys(t *testing.T) {
	for _, want := range []string{"capture.window", "capture.frame_timeout", "session.timeout", "mqtt.keepalive",
		"mqtt.telemetry_interval", "spool.max_age"} {
		if _, err := Decode(want + " = 30\n"); err == nil || !strings.Contains(err.Error(), want+": a duration must be") {
			t.Errorf("%s = 30: %v, want it refused as a bare-number duration", want, err)
		}
	}
	for _, not := range []string{"mqtt.qos", "capture.fps", "session", "device.id", "clock.min_valid"} {
		if _, err := Decode(not + " = 30\n"); err != nil && strings.Contains(err.Error(), "a duration must be") {
			t.Errorf("%s taken for a duration: %v", not, err)
		}
	}
}

func TestLoadEnvAndExample(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.toml")
	os.WriteFile(p, []byte("[device]\nid = \"kiosk-7\"\n[mqtt]\nusername = \"agent\"\n"), 0o600)
	t.Setenv(EnvMQTTPassword, "s3cret")
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.Password != "s3cret" || cfg.Device.ID != "kiosk-7" {
		t.Errorf("env override: %+v", cfg.MQTT)
	}
	// The documented example at the repository root loads and matches the defaults.
	ex, err := Load("../../config.toml")
	if err != nil {
		t.Fatalf("example config.toml: %v", err)
	}
	def := DefaultConfig()
	ex.Device.ID, def.Device.ID = "", ""
	ex.MQTT.Password, def.MQTT.Password = "", ""
	// [inference] belongs to the inference package, whose defaults may move
	// independently; its own tests cover them.
	ex.Inference, def.Inference = inference.Config{}, inference.Config{}
	if len(ex.API.AllowedOrigins) == 0 && len(ex.Session.GatewayHosts) == 0 {
		ex.API.AllowedOrigins, ex.Session.GatewayHosts = nil, nil // [] vs nil
	}
	if !reflect.DeepEqual(ex, def) {
		t.Errorf("config.toml differs from DefaultConfig:\n%+v\n%+v", ex, def)
	}
}
