package agent

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/gateway/api/openapitest"
)

// contract checks every exchange of this package's tests with the
// loopback API against OpenAPI (TestMain): the requests of those tests to
// the agent go through http.DefaultTransport.
var contract *openapitest.Checker

func TestMain(m *testing.M) {
	// Only requests the document routes, and not the agent's own calls
	// to a fake gateway: they share the transport, and its warm-up
	// (GET /healthz, uplink.Warmer) has a path of the agent's document.
	contract = openapitest.MustLoad(OpenAPI)
	os.Exit(contract.Run(m, "agent/openapi.json", func(r *http.Request) bool {
		return !strings.HasPrefix(r.Header.Get("User-Agent"), "faceagent") && contract.Routes(r)
	}))
}

// muxPattern matches a route registered on the API's ServeMux.
var muxPattern = regexp.MustCompile(`mux\.Handle(?:Func)?\("([A-Z]+) (/[^"]*)"`)

// TestOpenAPIRoutes: the routes this package registers (read from its
// source, as ServeMux cannot list them, and from its command table) and
// the document name the same
// operations; a ServeMux subtree "/ui/" is the document's "/ui/{asset}".
func TestOpenAPIRoutes(t *testing.T) {
	var registered []string
	for _, m := range openapitest.SourceMatches(t, "*.go", muxPattern) {
		path := m[2]
		if strings.HasSuffix(path, "/") && path != "/" {
			path += "{asset}"
		}
		registered = append(registered, m[1]+" "+path)
	}
	// The command table's routes (control.Mount registers them).
	for _, c := range (&Agent{}).commands(FleetOptions{}) {
		if c.Path != "" {
			registered = append(registered, c.Method+" "+c.Path)
		}
	}
	if len(registered) < 5 {
		t.Fatalf("found %d registered routes (%v): the pattern no longer matches how Handler registers them", len(registered), registered)
	}
	contract.CompareRoutes(t, registered)
}

// TestOpenAPIServed: the document is served as it is kept.
func TestOpenAPIServed(t *testing.T) {
	h := start(t, testCfg(), source(green), nil, nil, nil)
	resp, err := http.Get(h.url("/v1/openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || string(body) != string(OpenAPI) {
		t.Errorf("GET /v1/openapi.json = %d %q, %d bytes; want 200 application/json, the kept document", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
}
