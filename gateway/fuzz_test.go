package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/sqlitestore"
)

// handlerEnv is a gateway's HTTP handler without background workers, with a
// partner token and a user token.
type handlerEnv struct {
	h          http.Handler
	ptok, utok string
}

func newHandlerEnv(tb testing.TB) *handlerEnv {
	tb.Helper()
	// The fuzzed and benchmarked submissions are unsigned.
	return newHandlerEnvWith(tb, func(c *gateway.Config) { c.Devices.RequireSignature = false })
}

// newHandlerEnvWith is newHandlerEnv over DefaultConfig changed by mutate.
func newHandlerEnvWith(tb testing.TB, mutate func(*gateway.Config)) *handlerEnv {
	tb.Helper()
	p := &fakePartner{srv: httptest.NewServer(http.NotFoundHandler())}
	tb.Cleanup(p.srv.Close)
	cfg := gateway.DefaultConfig()
	cfg.Partners = []gateway.PartnerConfig{{ClientID: clientID, PasskeyHashes: []string{gatewaytest.PasskeyHash(passkey)}, ReferenceURL: p.srv.URL, Flows: []string{api.FlowSelfie}, AllowPrivateNetwork: true}}
	mutate(&cfg)
	store, err := sqlitestore.Open(context.Background(), filepath.Join(tb.TempDir(), "gw.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	gw, err := gateway.New(cfg, gateway.Deps{Store: store, Analyzer: gatewaytest.NewAnalyzer()})
	if err != nil {
		tb.Fatal(err)
	}
	e := &handlerEnv{h: gw.Handler()}
	var tr api.TokenResponse
	e.call(tb, "POST", api.PathToken, "", mustJSON(api.TokenRequest{ClientID: clientID, Passkey: passkey}), &tr)
	e.ptok = tr.PartnerToken
	var ir api.InitiateResponse
	e.call(tb, "POST", api.PathFlows, e.ptok, mustJSON(api.InitiateRequest{PartnerUserID: "u", PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: "c"}), &ir)
	e.utok = ir.UserToken
	if e.ptok == "" || e.utok == "" {
		tb.Fatal("no tokens")
	}
	return e
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (e *handlerEnv) call(tb testing.TB, method, path, token string, body []byte, out any) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if out != nil && rec.Code < 300 {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			tb.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return rec
}

// FuzzAPIBodies posts arbitrary bodies to the JSON endpoints: every answer is
// below 500 and every error is an api.Error with a code.
func FuzzAPIBodies(f *testing.F) {
	e := newHandlerEnv(f)
	f.Add(uint8(0), mustJSON(api.TokenRequest{ClientID: clientID, Passkey: "x"}))
	f.Add(uint8(1), mustJSON(api.InitiateRequest{PartnerUserID: "u", PartnerUserIDType: "t", Flow: "selfie", CorrelationID: "c2"}))
	f.Add(uint8(2), mustJSON(selfie(gatewaytest.Red, "k")))
	f.Add(uint8(2), []byte(`{"selfie":"iVBORw0KGgo=","device_id":"d","device_liveness":{"score":-1}}`))
	f.Add(uint8(2), []byte(`{"selfie":null,"captured_at":"yesterday"}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		var path, tok string
		switch which % 3 {
		case 0:
			path = api.PathToken
		case 1:
			path, tok = api.PathFlows, e.ptok
		default:
			path, tok = api.PathSubmissions, e.utok
		}
		rec := e.call(t, "POST", path, tok, body, nil)
		if rec.Code >= 500 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var ae api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &ae); err != nil || ae.Code == "" {
				t.Fatalf("%s: %d non-api.Error body %q", path, rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkStatus measures a device's status poll through the whole handler
// (token lookup, flow and attempts from SQLite, JSON).
func BenchmarkStatus(b *testing.B) {
	e := newHandlerEnv(b)
	b.ReportAllocs()
	for b.Loop() {
		rec := e.call(b, "GET", api.PathStatus, e.utok, nil, nil)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
