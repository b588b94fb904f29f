package agent

import (
	"encoding/json"
	"image/color"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
	uplinkgw "github.com/faceverify/faceverify/uplink/gateway"
)

// TestSessionWarmsTheGatewayConnection: a session's first request to the
// gateway is the warm-up (GET /healthz, no token), made while the camera
// captures, and the upload goes over the connection it opened.
func TestSessionWarmsTheGatewayConnection(t *testing.T) {
	type seen struct{ method, path, remote, auth string }
	var reqs []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		reqs = append(reqs, seen{r.Method, r.URL.Path, r.RemoteAddr, r.Header.Get("Authorization")}) // one connection, one request at a time
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case uplinkgw.PathHealthz:
			w.Write([]byte(`{}`))
		case api.PathSubmissions:
			w.WriteHeader(http.StatusAccepted)
			json.NewEncoder(w).Encode(api.SubmissionResponse{SubmissionID: "sub-1", Attempt: 1, Status: api.StatusProcessing})
		case api.PathStatus:
			json.NewEncoder(w).Encode(api.StatusResponse{Status: api.StatusVerified, NextAction: api.ActionExit, AttemptsLeft: 2})
		}
	}))
	defer srv.Close()
	an := &agenttest.Analyzer{ByColor: map[color.RGBA]inference.Analysis{green: agenttest.OneFace(faceBox, true)}}
	h := start(t, testCfg(), source(green), an, nil, nil)
	if code, body := h.post("/v1/verify", launchBody(srv.URL)); code != http.StatusAccepted {
		t.Fatalf("launch: %d %v", code, body)
	}
	if v := h.waitFinal(); v.Status != api.StatusVerified {
		t.Fatalf("final %+v, want VERIFIED", v)
	}
	srv.Close() // waits for the handlers: reqs is complete
	if len(reqs) < 3 {
		t.Fatalf("requests %+v, want the warm-up, the upload and a status call", reqs)
	}
	warm, up := reqs[0], reqs[1]
	if warm.method != http.MethodGet || warm.path != uplinkgw.PathHealthz || warm.auth != "" {
		t.Errorf("first request %+v, want GET %s without credentials", warm, uplinkgw.PathHealthz)
	}
	if up.path != api.PathSubmissions || up.remote != warm.remote {
		t.Errorf("upload %+v, want %s over the warm-up's connection %s", up, api.PathSubmissions, warm.remote)
	}
}
