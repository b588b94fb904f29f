package control

import (
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/faceverify/faceverify/internal/validate"
)

// Guard wraps the loopback API with its browser protections: with
// loopbackOnly the Host header must be a loopback name (no DNS
// rebinding), 403 forbidden otherwise; a request with an Origin header
// other than its own must come from allowedOrigins (api.allowed_origins),
// which get CORS headers and a 204 answer to a preflight; a POST body
// must be application/json (so a cross-site form cannot post), 415
// otherwise.
func Guard(next http.Handler, loopbackOnly bool, allowedOrigins []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if loopbackOnly {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			if !validate.LoopbackHost(host) {
				WriteError(w, http.StatusForbidden, "forbidden", "Host must be a loopback name", "")
				return
			}
		}
		// Same-origin requests (the kiosk screens' module script and
		// event stream) carry Origin too and need no CORS.
		if origin := r.Header.Get("Origin"); origin != "" && !strings.EqualFold(origin, "http://"+r.Host) {
			if !originAllowed(allowedOrigins, origin) {
				WriteError(w, http.StatusForbidden, "forbidden", "origin not in api.allowed_origins", "")
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
				WriteError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json", "")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func originAllowed(allowed []string, origin string) bool {
	for _, o := range allowed {
		if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}
