package gateway

import (
	"net/http"

	"github.com/faceverify/faceverify/gateway/api"
)

// handleOpenAPI serves api.OpenAPI at api.PathOpenAPI, unauthenticated: it
// describes the API and holds no secret.
func handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(api.OpenAPI)
}
