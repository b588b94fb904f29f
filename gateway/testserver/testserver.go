// Package testserver runs a real verification gateway for client tests:
// gateway.New over a gateway/sqlitestore database in a temporary
// directory, the scripted analyzer of gateway/gatewaytest, and the HTTP API
// on an httptest server (no background processing, so submissions stay
// pending and can be counted).
package testserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/sqlitestore"
)

// Partner credentials of the test gateway.
const (
	ClientID    = "kiosk-partner"
	Passkey     = "kiosk-partner-passkey-0123"
	EnrollToken = "enroll-token-0123456789abcdef"
)

// Server is a running test gateway.
type Server struct {
	URL   string
	Store *sqlitestore.Store
	HTTP  *httptest.Server
	// Offset shifts the gateway's clock (nanoseconds; atomic).
	Offset atomic.Int64
	t      testing.TB
}

// Config returns the test gateway's configuration before mutations:
// defaults, one partner (ClientID/Passkey), enrollment with EnrollToken,
// and unsigned submissions accepted (devices.require_signature = false).
func Config(dbPath string) gateway.Config {
	cfg := gateway.DefaultConfig()
	cfg.Devices.RequireSignature = false // tests that need signatures set it
	cfg.Database.Path = dbPath
	cfg.Devices.EnrollToken = EnrollToken
	cfg.Partners = []gateway.PartnerConfig{{
		ClientID: ClientID, PasskeyHashes: []string{gatewaytest.PasskeyHash(Passkey)},
		ReferenceURL: "http://127.0.0.1:9/reference", Flows: []string{api.FlowSelfie, api.FlowKTP},
		AllowPrivateNetwork: true,
	}}
	return cfg
}

// Start runs a gateway over the database at dbPath ("" for a new one in
// t.TempDir()) with cfg mutated by mutate; it stops at the end of the test.
func Start(t testing.TB, dbPath string, mutate ...func(*gateway.Config)) *Server {
	t.Helper()
	if dbPath == "" {
		dbPath = filepath.Join(t.TempDir(), "gw.db")
	}
	cfg := Config(dbPath)
	for _, m := range mutate {
		m(&cfg)
	}
	store, err := sqlitestore.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: store, t: t}
	g, err := gateway.New(cfg, gateway.Deps{
		Store: store, Analyzer: gatewaytest.NewAnalyzer(),
		Now: func() time.Time { return time.Now().Add(time.Duration(s.Offset.Load())) },
	})
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	s.HTTP = httptest.NewServer(g.Handler())
	s.URL = s.HTTP.URL
	t.Cleanup(func() { s.HTTP.Close(); store.Close() })
	return s
}

// Flow initiates a flow with correlation id corr and returns its user
// token and flow id.
func (s *Server) Flow(corr string) (token, flowID string) {
	s.t.Helper()
	var tok api.TokenResponse
	s.post(api.PathToken, "", api.TokenRequest{ClientID: ClientID, Passkey: Passkey}, &tok)
	var ini api.InitiateResponse
	s.post(api.PathFlows, tok.PartnerToken, api.InitiateRequest{
		PartnerUserID: "user-" + corr, PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: corr,
	}, &ini)
	f, err := s.Store.FlowByCorrelation(context.Background(), ClientID, corr)
	if err != nil {
		s.t.Fatal(err)
	}
	return ini.UserToken, f.ID
}

// Submissions lists the stored attempts of a flow.
func (s *Server) Submissions(flowID string) []gateway.Submission {
	s.t.Helper()
	subs, err := s.Store.Submissions(context.Background(), flowID)
	if err != nil {
		s.t.Fatal(err)
	}
	return subs
}

// AddDevice registers a device key directly in the store.
func (s *Server) AddDevice(id string, pub ed25519.PublicKey) {
	s.t.Helper()
	if _, _, err := s.Store.AddDevice(context.Background(), gateway.Device{ID: id, PublicKey: pub, CreatedAt: time.Now()}); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Server) post(path, token string, body, out any) {
	s.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		s.t.Fatal(fmt.Errorf("POST %s: HTTP %d %s", path, resp.StatusCode, data))
	}
	if err := json.Unmarshal(data, out); err != nil {
		s.t.Fatal(err)
	}
}
