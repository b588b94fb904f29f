package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/capture"
)

// Handler returns the loopback HTTP API:
//
//	POST /v1/verify   launch body (see DecodeLaunch) → 202 SessionView;
//	                  400 bad_request (names the field), 409 busy, 413, 415
//	GET  /v1/session  → 200 SessionView of the current or last session; 404 no_session
//	POST /v1/cancel   → 200 SessionView; 409 no_session
//	GET  /healthz     → 200 {"status":"ok","camera":…,"session":…,"stats":…}
//	GET  /ui/…        the kiosk screens, their event stream and the live preview (ui.go)
//
// Errors are ErrorPayload JSON. Browser protections: POST bodies must be
// application/json (so a cross-site form cannot post), requests with an
// Origin header must come from api.allowed_origins, and the Host header
// must be a loopback name while the API listens on loopback (no DNS
// rebinding).
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/verify", a.handleVerify)
	mux.HandleFunc("GET /v1/session", a.handleSession)
	mux.HandleFunc("POST /v1/cancel", a.handleCancel)
	mux.HandleFunc("GET /healthz", a.handleHealth)
	mux.HandleFunc("GET /v1/openapi.json", handleOpenAPI)
	mux.Handle("GET /metrics", a.MetricsHandler()) // metrics.go
	a.registerUI(mux)                              // kiosk screens (ui.go)
	return a.guard(mux)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, errCode, msg, field string) {
	writeJSON(w, code, ErrorPayload{Code: errCode, Message: msg, Field: field})
}

func (a *Agent) guard(next http.Handler) http.Handler {
	loopbackOnly := !a.cfg.API.AllowNonLoopback
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if loopbackOnly {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			if !isLoopbackHost(host) {
				writeErr(w, http.StatusForbidden, "forbidden", "Host must be a loopback name", "")
				return
			}
		}
		// Same-origin requests (the kiosk screens' module script and
		// event stream) carry Origin too and need no CORS.
		if origin := r.Header.Get("Origin"); origin != "" && !strings.EqualFold(origin, "http://"+r.Host) {
			if !a.originAllowed(origin) {
				writeErr(w, http.StatusForbidden, "forbidden", "origin not in api.allowed_origins", "")
				return
			}
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Vary", "Origin")
			if r.Method == http.MethodOptions {
				w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
				w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
				w.Header().Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if r.Method == http.MethodPost && r.ContentLength != 0 {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				writeErr(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json", "")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (a *Agent) originAllowed(origin string) bool {
	for _, o := range a.cfg.API.AllowedOrigins {
		if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

func (a *Agent) handleVerify(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxLaunchBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeErr(w, http.StatusRequestEntityTooLarge, "too_large", "body larger than 16 KiB", "")
			return
		}
		writeErr(w, http.StatusBadRequest, "bad_request", "cannot read body", "")
		return
	}
	req, err := DecodeLaunch(body)
	if err != nil {
		a.writeLaunchErr(w, err)
		return
	}
	v, err := a.Launch(r.Context(), req)
	if err != nil {
		a.writeLaunchErr(w, err)
		return
	}
	w.Header().Set("Location", "/v1/session")
	writeJSON(w, http.StatusAccepted, v)
}

func (a *Agent) writeLaunchErr(w http.ResponseWriter, err error) {
	p := errorPayload(err)
	code := http.StatusBadRequest
	switch p.Code {
	case "busy", "no_session":
		code = http.StatusConflict
	case "shutting_down":
		code = http.StatusServiceUnavailable
	case "internal":
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusServiceUnavailable
		} else {
			code = http.StatusInternalServerError
		}
	}
	writeJSON(w, code, p)
}

func (a *Agent) handleSession(w http.ResponseWriter, r *http.Request) {
	v, ok := a.Session()
	if !ok {
		writeErr(w, http.StatusNotFound, "no_session", "no session has run yet", "")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *Agent) handleCancel(w http.ResponseWriter, r *http.Request) {
	v, err := a.Cancel(r.Context())
	if err != nil {
		a.writeLaunchErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
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
	writeJSON(w, http.StatusOK, h)
}

// HandleVerifyCommand answers an MQTT verify command: payload is a launch
// body (see DecodeLaunch); the reply is a CommandReply echoing request_id,
// with ok=false and an error (bad_request naming the field, busy,
// shutting_down) when nothing was started.
func (a *Agent) HandleVerifyCommand(ctx context.Context, payload []byte) []byte {
	req, err := DecodeLaunch(payload)
	reply := CommandReply{RequestID: truncateID(req.RequestID)}
	if err == nil {
		var v SessionView
		v, err = a.Launch(ctx, req)
		if err == nil {
			reply.OK, reply.Session = true, &v
		}
	}
	if err != nil {
		reply.Error = errorPayload(err)
		a.log.Warn("verify command refused", "request_id", req.RequestID, "code", reply.Error.Code, "err", reply.Error.Message)
	}
	b, _ := json.Marshal(reply)
	return b
}

// HandleCancelCommand answers an MQTT cancel command ({"request_id":…}).
func (a *Agent) HandleCancelCommand(ctx context.Context, payload []byte) []byte {
	var in struct {
		RequestID string `json:"request_id"`
	}
	if len(payload) <= MaxLaunchBytes {
		json.Unmarshal(payload, &in)
	}
	reply := CommandReply{RequestID: truncateID(in.RequestID)}
	v, err := a.Cancel(ctx)
	if err != nil {
		reply.Error = errorPayload(err)
	} else {
		reply.OK, reply.Session = true, &v
	}
	b, _ := json.Marshal(reply)
	return b
}

// truncateID bounds an echoed request id to 128 bytes.
func truncateID(s string) string {
	if len(s) > 128 {
		return s[:128]
	}
	return s
}
