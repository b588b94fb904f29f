package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/agent/control"
	"github.com/faceverify/faceverify/capture/capturetest"
	"github.com/faceverify/faceverify/uplink/uplinktest"
)

var launchSeeds = []string{
	`{"token":"t","correlation_id":"c","base_url":"https://gw.example.com"}`,
	`{"token":"t","correlationId":"c","baseURL":"http://127.0.0.1:8080","requestId":"r"}`,
	`{"token":"t","correlation_id":"a","correlationId":"b","base_url":"https://g"}`,
	`{"request_id":"x","token":5}`,
	`[]`, `null`, `{"base_url":"http://[::1]:80/"}`, `{} {}`, "{\"token\":\"\u0000\"}",
}

// FuzzAPIVerifyBody posts arbitrary bodies to the loopback API of a
// stopped agent: every answer is JSON with a 4xx/5xx code (nothing can
// start) and nothing panics.
func FuzzAPIVerifyBody(f *testing.F) {
	for _, s := range launchSeeds {
		f.Add(s)
	}
	cfg := testCfg()
	a, err := New(cfg, Deps{Source: &capturetest.Source{}, Analyzer: &agenttest.Analyzer{}, Gateway: &uplinktest.Gateway{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg.API.Listen = ""
	a.cfg.API.Listen = ""
	a.Run(ctx) // returns at once; the agent is stopped
	h := a.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/v1/verify", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code < 400 {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		var p control.ErrorPayload
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code == "" {
			t.Fatalf("answer %q is not an error payload", rec.Body.String())
		}
	})
}
