package agent

import (
	_ "embed" // OpenAPI
	"net/http"
)

// OpenAPI is the OpenAPI 3.1 document of the loopback HTTP API (Handler),
// kept beside this file as openapi.json and served at /v1/openapi.json:
// every route, the launch body, each status code with its ErrorPayload,
// and the browser protections. The agent's tests check it against the
// routes the package registers and validate exchanges against it.
//
//go:embed openapi.json
var OpenAPI []byte

// handleOpenAPI serves OpenAPI.
func handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(OpenAPI)
}
