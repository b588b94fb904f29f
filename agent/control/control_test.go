package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/uplink/mqtt"
)

func TestFailureOf(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		code   string
		field  string
		status int
	}{
		{"bad field", BadField("base_url", "must be https"), "bad_request", "base_url", http.StatusBadRequest},
		{"wrapped refusal", fmt.Errorf("launch: %w", ErrBusy), "busy", "", http.StatusConflict},
		{"cancel without a session", ErrNoSession, "no_session", "", http.StatusConflict},
		{"no session has run", ErrNoSessionYet, "no_session", "", http.StatusNotFound},
		{"shutting down", ErrStopped, "shutting_down", "", http.StatusServiceUnavailable},
		{"other refusal", &RequestError{Code: "invalid_config", Message: "x"}, "invalid_config", "", http.StatusBadRequest},
		{"deadline", context.DeadlineExceeded, "busy", "", http.StatusServiceUnavailable},
		{"cancelled", fmt.Errorf("send: %w", context.Canceled), "busy", "", http.StatusServiceUnavailable},
		{"internal", errors.New("boom"), "internal", "", http.StatusInternalServerError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := FailureOf(tc.err)
			if f.Code != tc.code || f.Field != tc.field || f.HTTPStatus != tc.status || f.Message == "" {
				t.Errorf("FailureOf(%v) = %+v, want %s %q %d", tc.err, f, tc.code, tc.field, tc.status)
			}
		})
	}
}

// table is a command table for the transport tests: echo answers its body,
// fail refuses naming a field, mqttOnly has no route, httpOnly no name.
func table() []Command {
	return []Command{
		{Name: "echo", Method: http.MethodPost, Path: "/v1/echo", Status: http.StatusAccepted, Location: "/v1/where", ResultKey: "echo", MaxBody: 8,
			Run: func(_ context.Context, in Input) (any, error) {
				return map[string]any{"body": string(in.Body), "mqtt": in.MQTT, "request_id": in.RequestID}, nil
			}},
		{Name: "fail", Method: http.MethodPost, Path: "/v1/fail",
			Run: func(context.Context, Input) (any, error) { return nil, BadField("token", "is required") }},
		{Name: "mqttOnly", Run: func(context.Context, Input) (any, error) { return nil, nil }},
		{Method: http.MethodGet, Path: "/v1/none", Run: func(context.Context, Input) (any, error) { return nil, ErrNoSessionYet }},
	}
}

func TestMount(t *testing.T) {
	mux := http.NewServeMux()
	Mount(mux, table())
	cases := []struct {
		name, method, path, body string
		status                   int
		want                     string // substring of the body
		location                 string
	}{
		{"success", "POST", "/v1/echo", `{"a":1}`, http.StatusAccepted, `"body":"{\"a\":1}"`, "/v1/where"},
		{"over MaxBody", "POST", "/v1/echo", `{"a":12345}`, http.StatusRequestEntityTooLarge, `"code":"too_large"`, ""},
		{"refusal names the field", "POST", "/v1/fail", `{}`, http.StatusBadRequest, `"field":"token"`, ""},
		{"not found status", "GET", "/v1/none", "", http.StatusNotFound, `"code":"no_session"`, ""},
		{"MQTT-only command has no route", "POST", "/mqttOnly", `{}`, http.StatusNotFound, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) || w.Header().Get("Location") != tc.location {
				t.Errorf("%s %s = %d %s (Location %q), want %d with %s", tc.method, tc.path, w.Code, w.Body, w.Header().Get("Location"), tc.status, tc.want)
			}
		})
	}
}

type registrar map[string]mqtt.Handler

func (r registrar) HandleCommand(name string, h mqtt.Handler) { r[name] = h }

func TestRegister(t *testing.T) {
	r := registrar{}
	Register(r, table(), nil)
	var names []string
	for n := range r {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"echo", "fail", "mqttOnly"}; !slices.Equal(names, want) {
		t.Fatalf("registered %v, want %v", names, want)
	}
	rep := r["echo"](context.Background(), mqttapi.Command{Name: "echo", RequestID: "r-9", Body: json.RawMessage(`{"long body, no HTTP limit":1}`)})
	var res struct {
		Echo struct {
			Body      string `json:"body"`
			MQTT      bool   `json:"mqtt"`
			RequestID string `json:"request_id"`
		} `json:"echo"`
	}
	if !rep.OK || rep.RequestID != "r-9" || json.Unmarshal(rep.Result, &res) != nil || !res.Echo.MQTT || res.Echo.RequestID != "r-9" {
		t.Errorf("echo reply %+v %s", rep, rep.Result)
	}
	rep = r["fail"](context.Background(), mqttapi.Command{Name: "fail", RequestID: "r-10"})
	if rep.OK || rep.Error == nil || rep.Error.Code != "bad_request" || rep.Error.Field != "token" || rep.RequestID != "r-10" {
		t.Errorf("fail reply %+v", rep)
	}
}
