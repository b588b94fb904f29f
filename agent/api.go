package agent

import (
	"net/http"

	"github.com/faceverify/faceverify/agent/control"
	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/capture"
)

// Handler returns the loopback HTTP API:
//
//	POST /v1/verify   launch body (see control.DecodeLaunch) → 202 SessionView;
//	                  400 bad_request (names the field), 409 busy, 413, 415
//	GET  /v1/session  → 200 SessionView of the current or last session; 404 no_session
//	POST /v1/cancel   → 200 SessionView; 409 no_session
//	GET  /healthz     → 200 {"status":"ok","camera":…,"session":…,"stats":…}
//	GET  /ui/…        the kiosk screens, their event stream and the live preview (ui.go)
//
// Errors are control.ErrorPayload JSON (control.FailureOf). Browser
// protections (control.Guard): POST bodies must be application/json (so a
// cross-site form cannot post), requests with an Origin header must come
// from api.allowed_origins, and the Host header must be a loopback name
// while the API listens on loopback (no DNS rebinding).
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	control.Mount(mux, a.commands(FleetOptions{})) // verify, session, cancel (commands.go)
	mux.HandleFunc("GET /healthz", a.handleHealth)
	mux.HandleFunc("GET /v1/openapi.json", handleOpenAPI)
	mux.Handle("GET /metrics", a.MetricsHandler()) // metrics_wiring.go
	a.registerUI(mux)                              // kiosk screens (ui.go)
	return control.Guard(mux, !a.cfg.API.AllowNonLoopback, a.cfg.API.AllowedOrigins)
}

// Health is the /healthz body.
type Health struct {
	Status  string `json:"status"` // "ok" or "degraded"
	Device  string `json:"device_id"`
	Camera  string `json:"camera"`
	Session string `json:"session"`        // state of the current/last session, "idle" if none
	MQTT    string `json:"mqtt,omitempty"` // "connected", "disconnected"; absent without MQTT
	Stats   Stats  `json:"stats"`
	// Reasons lists why Status is degraded, e.g. "CAMERA_LOST".
	Reasons []string `json:"reasons,omitempty"`
	// CameraHealth is the camera's state and reason (camera_health.go).
	CameraHealth *capture.Health `json:"camera_health,omitempty"`
	// LEDs is the status-light driver's state (led_health.go).
	LEDs *led.Health `json:"leds,omitempty"`
}

func (a *Agent) handleHealth(w http.ResponseWriter, r *http.Request) {
	h := Health{Status: "ok", Device: a.cfg.Device.ID, Camera: a.d.Source.Name(), Session: "idle", Stats: a.Stats()}
	if v, ok := a.Session(); ok {
		h.Session = v.State
	}
	a.addCameraHealth(&h)
	a.addLEDHealth(&h)
	a.addDeviceHealth(&h)
	if c, ok := a.d.Publisher.(interface{ Connected() bool }); ok {
		h.MQTT = "disconnected"
		if c.Connected() {
			h.MQTT = "connected"
		}
	}
	control.WriteJSON(w, http.StatusOK, h)
}
