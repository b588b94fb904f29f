package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/api/openapitest"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
)

// contract checks every request the tests of this package make to a
// gateway, and its answer, against api.OpenAPI (TestMain).
var contract *openapitest.Checker

// gatewayPath reports whether a request is for the gateway's API rather
// than a test's fake partner (both listen on loopback).
func gatewayPath(r *http.Request) bool {
	p := r.URL.Path
	return strings.HasPrefix(p, "/v1/") || p == "/healthz" || p == "/metrics"
}

func TestMain(m *testing.M) {
	contract = openapitest.MustLoad(api.OpenAPI)
	os.Exit(contract.Run(m, "gateway/api/openapi.json", gatewayPath))
}

// TestOpenAPIRoutes: the router and the document name the same
// operations, and the document is served as it is kept.
func TestOpenAPIRoutes(t *testing.T) {
	e := newEnv(t)
	routes, ok := e.gw.Handler().(chi.Routes)
	if !ok {
		t.Fatalf("Handler is %T, not a chi router", e.gw.Handler())
	}
	var registered []string
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		registered = append(registered, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(registered)
	contract.CompareRoutes(t, registered)
	if len(contract.Doc().Webhooks) == 0 || contract.Doc().Webhooks["flowFinal"] == nil {
		t.Error("the partner callback is not described as webhook flowFinal")
	}

	resp, err := http.Get(e.url + api.PathOpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || string(body) != string(api.OpenAPI) {
		t.Errorf("GET %s = %d %q, %d bytes; want 200 application/json, the kept document", api.PathOpenAPI, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
}

// TestOpenAPIErrorCodes: every error code gateway/api declares is in the
// document's Error.code enum, so a partner's generated client knows it.
func TestOpenAPIErrorCodes(t *testing.T) {
	decl := regexp.MustCompile(`(?m)^\s*Code\w+\s*=\s*"([a-z_]+)"`)
	var declared []string
	for _, m := range openapitest.SourceMatches(t, "api/*.go", decl) {
		declared = append(declared, m[1])
	}
	if len(declared) < 20 {
		t.Fatalf("found %d error codes in gateway/api: the pattern no longer matches their declarations", len(declared))
	}
	var documented []string
	for _, v := range contract.Doc().Components.Schemas["Error"].Value.Properties["code"].Value.Enum {
		documented = append(documented, fmt.Sprint(v))
	}
	for _, c := range declared {
		if !slices.Contains(documented, c) {
			t.Errorf("error code %q is not in openapi.json's Error.code enum", c)
		}
	}
}

// TestOpenAPIWebhook: the callback a partner receives when a flow becomes
// final matches the document's webhook flowFinal (headers and body).
func TestOpenAPIWebhook(t *testing.T) {
	type delivery struct {
		header http.Header
		body   []byte
	}
	got := make(chan delivery, 8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost {
			got <- delivery{r.Header.Clone(), body}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	e := newEnv(t, func(c *gateway.Config) { c.Partners[0].CallbackURL = hook.URL + "/hook" })
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	tok, _ := e.initiate("alice")
	if code, _, ae := e.submit(tok, selfie(gatewaytest.Red, "k1")); code != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", code, ae)
	}
	select {
	case d := <-got:
		if err := contract.CheckWebhook("flowFinal", http.MethodPost, d.header, d.body); err != nil {
			t.Errorf("%v (headers %v, body %s)", err, d.header, d.body)
		}
	case <-time.After(time.Minute):
		t.Fatal("no callback within a minute")
	}
}
