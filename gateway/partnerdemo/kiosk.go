package partnerdemo

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/faceverify/faceverify/sdk/web"
)

// PathKiosk is where the sample partner serves the Web SDK
// (PathKiosk+"faceverify.js", "faceverify.d.ts") and the example kiosk
// page (PathKiosk+"example.html", also at PathKiosk). The kiosk's agent
// must list this server's origin in api.allowed_origins to be framed.
const PathKiosk = "/kiosk/"

// mountKiosk adds the SDK files and the example page to r.
func mountKiosk(r chi.Router) {
	files := http.StripPrefix(PathKiosk, http.FileServerFS(web.Files()))
	r.Get(PathKiosk+"*", func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == PathKiosk {
			http.Redirect(w, req, PathKiosk+"example.html", http.StatusFound)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, req)
	})
}
