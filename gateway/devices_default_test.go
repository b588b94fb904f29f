package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
)

// TestUnsignedRefusedByDefault: a gateway on the default [devices] table
// refuses an unsigned submission with 401 signature_required, and one with
// require_signature = false set explicitly accepts it.
func TestUnsignedRefusedByDefault(t *testing.T) {
	if !gateway.DefaultConfig().Devices.RequireSignature {
		t.Fatal("DefaultConfig().Devices.RequireSignature = false, want true")
	}
	cfg, err := gateway.DecodeConfig(strings.NewReader("[devices]\nmax_skew = \"1m\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Devices.RequireSignature {
		t.Error("a [devices] table without require_signature decoded to false, want true")
	}

	tests := []struct {
		name     string
		mutate   func(*gateway.Config)
		wantCode int
		wantErr  string
	}{
		{"default", func(*gateway.Config) {}, http.StatusUnauthorized, api.CodeSignatureRequired},
		{"explicitly off", func(c *gateway.Config) { c.Devices.RequireSignature = false }, http.StatusAccepted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newHandlerEnvWith(t, tt.mutate)
			rec := e.call(t, "POST", api.PathSubmissions, e.utok, mustJSON(selfie(gatewaytest.Red, "k-"+tt.name)), nil)
			if rec.Code != tt.wantCode {
				t.Fatalf("unsigned submission: %d %s, want %d", rec.Code, rec.Body, tt.wantCode)
			}
			if tt.wantErr != "" {
				var ae api.Error
				if err := json.Unmarshal(rec.Body.Bytes(), &ae); err != nil || ae.Code != tt.wantErr {
					t.Fatalf("error body %s (%v), want code %q", rec.Body, err, tt.wantErr)
				}
			}
		})
	}
}
