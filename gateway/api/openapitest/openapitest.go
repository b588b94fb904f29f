// Package openapitest checks HTTP traffic against an OpenAPI 3.1 document,
// for tests that hold a service to its published contract. Requests and
// responses are validated by github.com/getkin/kin-openapi's openapi3filter
// (JSON Schema 2020-12 for 3.1 documents), routes found by its legacy
// router.
//
// The rules a Checker applies to every exchange it sees:
//
//   - a request the document has no operation for must be answered 404 or
//     405;
//   - a request the document calls invalid must be answered 4xx;
//   - every answer to a documented operation must have a status the
//     operation lists and a body and headers its schema accepts.
//
// Violations are collected, not failed at once, so one Checker can sit in
// a shared transport (Transport) or middleware (Handler) for a whole test
// binary. It serves the tests of both documents, the gateway's
// (gateway/api/openapi.json) and the agent's loopback API
// (agent/openapi.json); only tests import it, so no daemon links
// kin-openapi.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Checker validates exchanges against one document. Safe for concurrent
// use.
type Checker struct {
	doc    *openapi3.T
	router routers.Router

	mu         sync.Mutex
	violations []string
	seen       map[string]map[int]int // "METHOD /path" → status → count
}

// Load parses and validates spec (an OpenAPI 3.x document in JSON) and
// returns a Checker for it; the error names what is wrong with the
// document.
func Load(spec []byte) (*Checker, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("invalid OpenAPI document: %w", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route OpenAPI document: %w", err)
	}
	return &Checker{doc: doc, router: router, seen: map[string]map[int]int{}}, nil
}

// Doc is the parsed document.
func (c *Checker) Doc() *openapi3.T { return c.doc }

// Routes reports whether the document has an operation for r's method
// and path.
func (c *Checker) Routes(r *http.Request) bool {
	u := *r.URL
	if u.RawPath != "" {
		u.Path, u.RawPath = u.RawPath, ""
	}
	_, _, err := c.router.FindRoute(&http.Request{Method: r.Method, URL: &u})
	return err == nil
}

// Operations lists the document's operations as "METHOD /path" (webhooks
// excluded), sorted.
func (c *Checker) Operations() []string {
	var out []string
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

// Check validates one exchange: req (whose body, if any, is reqBody) was
// answered status with header and respBody.
func (c *Checker) Check(req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte) {
	what := req.Method + " " + req.URL.Path
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	if r.URL.RawPath != "" {
		// Route on the path as sent: an escaped "/" inside a path
		// parameter stays inside it.
		r.URL.Path, r.URL.RawPath = r.URL.RawPath, ""
	}
	route, params, err := c.router.FindRoute(r)
	if err != nil {
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			c.violate("%s: not in the document (%v), yet answered %d", what, err, status)
		}
		return
	}
	op := req.Method + " " + route.Path
	c.mu.Lock()
	if c.seen[op] == nil {
		c.seen[op] = map[int]int{}
	}
	c.seen[op][status]++
	c.mu.Unlock()

	in := &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && (status < 400 || status > 499) {
		c.violate("%s: the document refuses the request (%s), yet it was answered %d", what, oneLine(err), status)
	}
	in.Options = &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(respBody)), Options: in.Options,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.violate("%s → %d: response does not match the document: %s (body %.300q)", what, status, oneLine(err), respBody)
	}
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func (c *Checker) violate(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.violations = append(c.violations, fmt.Sprintf(format, args...))
}

// Violations returns what Check found so far, in order.
func (c *Checker) Violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.violations)
}

// Seen returns how many exchanges of each documented operation
// ("METHOD /path") Check saw, by status.
func (c *Checker) Seen() map[string]map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]map[int]int, len(c.seen))
	for op, m := range c.seen {
		out[op] = maps.Clone(m)
	}
	return out
}

// Transport returns a RoundTripper that sends through next (nil:
// http.DefaultTransport) and checks the exchanges whose request match
// accepts (all when match is nil), e.g. those for the service's paths and
// not a test's fake partner on the same loopback address. A request whose
// body cannot be read again (no GetBody), and a streamed answer (event
// stream, multipart), are passed through unchecked.
func (c *Checker) Transport(next http.RoundTripper, match func(*http.Request) bool) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper{c: c, next: next, match: match}
}

type roundTripper struct {
	c     *Checker
	next  http.RoundTripper
	match func(*http.Request) bool
}

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.match != nil && !t.match(req) {
		return t.next.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil && req.GetBody != nil {
		rc, err := req.GetBody()
		if err == nil {
			body, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || req.Body != nil && req.GetBody == nil {
		return resp, err // a streamed body cannot be checked
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/event-stream") || strings.HasPrefix(ct, "multipart/") {
		return resp, nil // a stream that may not end
	}
	data, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	if rerr != nil {
		return resp, nil
	}
	t.c.Check(req, body, resp.StatusCode, resp.Header, data)
	return resp, nil
}

// Handler returns next wrapped so that every request it serves is
// checked; the response is recorded in full before it is written on.
func (c *Checker) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		res := rec.Result()
		data := rec.Body.Bytes()
		c.Check(r, body, res.StatusCode, res.Header, data)
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		w.Write(data)
	})
}

// MustLoad is Load for TestMain: it panics on a bad document.
func MustLoad(spec []byte) *Checker {
	c, err := Load(spec)
	if err != nil {
		panic(err)
	}
	return c
}

// Run is the body of a TestMain: it routes http.DefaultTransport through
// Transport (for the requests match accepts; nil: those the document
// routes), runs the tests, and returns their exit code, or 1 when an
// exchange broke the contract of the document called name (the first 20
// violations are printed). With -v it also prints which status codes each
// operation answered.
func (c *Checker) Run(m *testing.M, name string, match func(*http.Request) bool) int {
	if match == nil {
		match = c.Routes
	}
	http.DefaultTransport = c.Transport(http.DefaultTransport, match)
	code := m.Run()
	if testing.Verbose() {
		seen := c.Seen()
		for _, op := range c.Operations() {
			fmt.Printf("openapi: %s answered %v\n", op, seen[op])
		}
	}
	if v := c.Violations(); len(v) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d exchanges differ from %s:\n", len(v), name)
		for i, s := range v {
			if i == 20 {
				fmt.Fprintf(os.Stderr, "  … and %d more\n", len(v)-i)
				break
			}
			fmt.Fprintln(os.Stderr, "  "+s)
		}
		code = 1
	}
	return code
}

// SourceMatches returns the submatches of re in the Go source files (not
// tests) matching glob, for facts a test reads from source because no API
// lists them (routes on a ServeMux, declared error codes).
func SourceMatches(tb testing.TB, glob string, re *regexp.Regexp) [][]string {
	tb.Helper()
	files, err := filepath.Glob(glob)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]string
	for _, f := range files {
		if !strings.HasSuffix(f, ".go") || strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, re.FindAllStringSubmatch(string(src), -1)...)
	}
	return out
}

// CompareRoutes fails tb for every route ("METHOD /path") the service
// registers that the document lacks, and every operation of the document
// the service does not register.
func (c *Checker) CompareRoutes(tb testing.TB, registered []string) {
	tb.Helper()
	documented := c.Operations()
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			tb.Errorf("route %s is registered but not in the OpenAPI document", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			tb.Errorf("the OpenAPI document has %s, which is not registered", d)
		}
	}
}

// CheckWebhook validates a request the service sent to a subscriber
// against the document's webhook name: its header parameters (required
// ones present) and its JSON body.
func (c *Checker) CheckWebhook(name, method string, header http.Header, body []byte) error {
	item := c.doc.Webhooks[name]
	if item == nil || item.GetOperation(method) == nil {
		return fmt.Errorf("webhook %s %s: not in the document", method, name)
	}
	op := item.GetOperation(method)
	opts := []openapi3.SchemaValidationOption{openapi3.EnableJSONSchema2020()}
	for _, p := range op.Parameters {
		param := p.Value
		if param == nil || param.In != openapi3.ParameterInHeader {
			continue
		}
		v := header.Get(param.Name)
		if v == "" {
			if param.Required {
				return fmt.Errorf("webhook %s: header %s missing", name, param.Name)
			}
			continue
		}
		if param.Schema != nil {
			if err := param.Schema.Value.VisitJSON(v, opts...); err != nil {
				return fmt.Errorf("webhook %s: header %s: %w", name, param.Name, err)
			}
		}
	}
	if op.RequestBody == nil {
		return nil
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return fmt.Errorf("webhook %s: no application/json body in the document", name)
	}
	var data any
	if err := json.Unmarshal(body, &data); err != nil {
		return fmt.Errorf("webhook %s: body is not JSON: %w", name, err)
	}
	if err := mt.Schema.Value.VisitJSON(data, opts...); err != nil {
		return fmt.Errorf("webhook %s: body: %w", name, err)
	}
	return nil
}
