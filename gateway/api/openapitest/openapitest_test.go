package openapitest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/gateway/api/openapitest"
)

const spec = `{
  "openapi": "3.1.0",
  "info": {"title": "t", "version": "1"},
  "paths": {
    "/v1/things/{id}": {
      "post": {
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}}}},
        "responses": {
          "200": {"description": "ok", "content": {"application/json": {"schema": {
            "type": "object", "required": ["id"], "additionalProperties": false,
            "properties": {"id": {"type": "string"}, "note": {"type": ["string", "null"]}}}}}},
          "400": {"description": "bad", "content": {"application/json": {"schema": {
            "type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}}}}}
        }
      }
    }
  }
}`

func TestChecker(t *testing.T) {
	for _, tc := range []struct {
		name       string
		path, body string
		status     int
		answer     string
		violations int
		violation  string
	}{
		{name: "valid exchange", path: "/v1/things/a", body: `{"n":1}`, status: 200, answer: `{"id":"a","note":null}`},
		{name: "3.1 type array accepts a string", path: "/v1/things/a", body: `{"n":1}`, status: 200, answer: `{"id":"a","note":"x"}`},
		{name: "refused request answered 400", path: "/v1/things/a", body: `{"n":"one"}`, status: 400, answer: `{"code":"bad_request"}`},
		{name: "refused request answered 200", path: "/v1/things/a", body: `{}`, status: 200, answer: `{"id":"a"}`, violations: 1, violation: "refuses the request"},
		{name: "undocumented status", path: "/v1/things/a", body: `{"n":1}`, status: 409, answer: `{"code":"x"}`, violations: 1, violation: "status is not supported"},
		{name: "body off schema", path: "/v1/things/a", body: `{"n":1}`, status: 200, answer: `{"id":"a","extra":1}`, violations: 1, violation: "does not match"},
		{name: "escaped slash stays in the parameter", path: "/v1/things/a%2Fb", body: `{"n":1}`, status: 200, answer: `{"id":"a/b"}`},
		{name: "unknown path answered 404", path: "/v2/x", body: `{}`, status: 404, answer: `{}`},
		{name: "unknown path answered 200", path: "/v2/x", body: `{}`, status: 200, answer: `{}`, violations: 1, violation: "not in the document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := openapitest.Load([]byte(spec))
			if err != nil {
				t.Fatal(err)
			}
			h := c.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.answer))
			}))
			req := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status || rec.Body.String() != tc.answer {
				t.Errorf("Handler passed on %d %q, want %d %q", rec.Code, rec.Body, tc.status, tc.answer)
			}
			v := c.Violations()
			if len(v) != tc.violations || tc.violation != "" && !strings.Contains(v[0], tc.violation) {
				t.Errorf("violations %q, want %d naming %q", v, tc.violations, tc.violation)
			}
		})
	}
}

func TestLoadRefusesABadDocument(t *testing.T) {
	if _, err := openapitest.Load([]byte(`{"openapi":"3.1.0","info":{"title":"t"},"paths":{}}`)); err == nil {
		t.Error("Load accepted a document without info.version")
	}
}
