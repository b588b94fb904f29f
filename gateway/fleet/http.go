package fleet

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/faceverify/faceverify/internal/validate"
)

//go:embed static
var staticFS embed.FS

// HeaderRequest must be set ("1") on POST requests: a cross-site form
// cannot set it, and a cross-site script cannot without a CORS preflight,
// which the server does not answer.
const HeaderRequest = "X-Fleet-Request"

// Handler serves the page (/), its assets (/static/), the live updates
// (/events, Server-Sent Events: one "snapshot" event with every device,
// then one "device" event per change), the device list (/api/devices),
// identify (POST /api/devices/{id}/identify) and /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	sub, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(sub)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := staticFS.ReadFile("static/index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(b)
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	mux.HandleFunc("GET /events", s.serveEvents)
	mux.HandleFunc("GET /api/devices", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Devices())
	})
	mux.HandleFunc("POST /api/devices/{id}/identify", s.serveIdentify)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		st := "connected"
		if !s.Connected() {
			st = "disconnected"
		}
		writeJSON(w, http.StatusOK, map[string]any{"mqtt": st, "devices": len(s.Devices()), "identify": len(s.opts.CommandSecret) > 0})
	})
	return s.hostGuard(securityHeaders(mux))
}

// hostGuard refuses requests whose Host header does not name a loopback
// host, unless Options.AllowRemoteHosts: a web page that rebinds its own
// DNS name to 127.0.0.1 cannot then read the fleet or press identify.
func (s *Server) hostGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.opts.AllowRemoteHosts && !validate.LoopbackHostPort(r.Host) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "Host must be a loopback name (localhost, 127.0.0.1, [::1])"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// serveEvents streams device updates as Server-Sent Events.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, snap := s.subscribe()
	defer s.unsubscribe(ch)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	fmt.Fprintf(w, "retry: 2000\nevent: snapshot\ndata: %s\n\n", snap)
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case b, ok := <-ch:
			if !ok {
				return // too slow: the browser reconnects
			}
			fmt.Fprintf(w, "event: device\ndata: %s\n\n", b)
			fl.Flush()
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			fl.Flush()
		}
	}
}

// sameOrigin reports whether the request's Origin (if any) is this host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

func (s *Server) serveIdentify(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(HeaderRequest) != "1" || !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-site request refused"})
		return
	}
	id, err := s.Identify(r.Context(), r.PathValue("id"))
	switch {
	case err == nil:
		writeJSON(w, http.StatusAccepted, map[string]string{"request_id": id})
	case errors.Is(err, ErrUnknownDevice):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case errors.Is(err, ErrNoSecret), errors.Is(err, ErrNotConnected):
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
	}
}
