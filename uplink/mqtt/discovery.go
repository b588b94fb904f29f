package mqtt

import (
	"encoding/json"
	"strings"

	"github.com/faceverify/faceverify/gateway/mqttapi"
)

// DiscoveryMessage is one retained Home Assistant discovery config.
type DiscoveryMessage struct {
	Topic   string
	Payload []byte
}

// HATopic is P/D/ha/name, the unsigned topic of a Home Assistant button.
func (c *Client) HATopic(name string) string { return c.topic("ha/" + name) }

// HAStatusTopic is where Home Assistant announces itself: <ha prefix>/status.
func (c *Client) HAStatusTopic() string { return c.opts.HADiscoveryPrefix + "/status" }

// Discovery returns the Home Assistant discovery configs of this device:
// sensors state, last outcome, spool depth and camera fps (from the
// telemetry topic), a connectivity binary sensor bound to the status topic,
// and identify and self-test buttons (on the unsigned P/D/ha/<name>
// topics). Entities other than connectivity are unavailable while the
// status is offline.
func (c *Client) Discovery() []DiscoveryMessage {
	node := mqttapi.HANodeID(c.opts.DeviceID)
	device := map[string]any{
		"identifiers":  []string{node},
		"name":         "Kiosk " + c.opts.DeviceID,
		"manufacturer": "faceverify",
		"model":        "face verification kiosk",
	}
	if c.opts.Version != "" {
		device["sw_version"] = c.opts.Version
	}
	avail := func(m map[string]any) map[string]any {
		m["availability_topic"] = c.StatusTopic()
		m["availability_template"] = "{{ 'offline' if value_json.state == 'offline' else 'online' }}"
		return m
	}
	optional := func(path string) string {
		parts := strings.Split(path, ".")
		return "{% if value_json." + parts[0] + " is defined %}{{ value_json." + path + " }}{% else %}None{% endif %}"
	}
	type ent struct {
		component, object string
		cfg               map[string]any
	}
	ents := []ent{
		{"sensor", "state", avail(map[string]any{
			"name": "State", "icon": "mdi:face-recognition",
			"state_topic": c.TelemetryTopic(), "value_template": optional("session"),
		})},
		{"sensor", "last_outcome", avail(map[string]any{
			"name": "Last outcome", "icon": "mdi:account-check",
			"state_topic": c.TelemetryTopic(), "value_template": optional("last_outcome"),
		})},
		{"sensor", "spool_depth", avail(map[string]any{
			"name": "Spool depth", "icon": "mdi:tray-full", "state_class": "measurement",
			"state_topic": c.TelemetryTopic(), "value_template": optional("spool.depth"),
			"entity_category": "diagnostic",
		})},
		{"sensor", "camera_fps", avail(map[string]any{
			"name": "Camera fps", "icon": "mdi:camera", "state_class": "measurement", "unit_of_measurement": "fps",
			"state_topic": c.TelemetryTopic(), "value_template": optional("camera.fps"),
			"entity_category": "diagnostic",
		})},
		{"binary_sensor", "connectivity", map[string]any{
			"name": "Connectivity", "device_class": "connectivity",
			"state_topic": c.StatusTopic(), "payload_on": "ON", "payload_off": "OFF",
			"value_template":  "{{ 'OFF' if value_json.state == 'offline' else 'ON' }}",
			"entity_category": "diagnostic",
		}},
		{"button", "identify", avail(map[string]any{
			"name": "Identify", "device_class": "identify",
			"command_topic": c.HATopic(mqttapi.CmdIdentify), "payload_press": mqttapi.HAPayloadPress,
		})},
		{"button", "self_test", avail(map[string]any{
			"name": "Self-test", "icon": "mdi:stethoscope", "entity_category": "diagnostic",
			"command_topic": c.HATopic(mqttapi.CmdSelfTest), "payload_press": mqttapi.HAPayloadPress,
		})},
	}
	out := make([]DiscoveryMessage, 0, len(ents))
	for _, e := range ents {
		e.cfg["unique_id"] = node + "_" + e.object
		e.cfg["object_id"] = node + "_" + e.object
		e.cfg["device"] = device
		b, _ := json.Marshal(e.cfg)
		out = append(out, DiscoveryMessage{
			Topic:   c.opts.HADiscoveryPrefix + "/" + e.component + "/" + node + "/" + e.object + "/config",
			Payload: b,
		})
	}
	return out
}
