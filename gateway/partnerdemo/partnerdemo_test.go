package partnerdemo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/partnerdemo"
	"github.com/faceverify/faceverify/gateway/sqlitestore"
)

const (
	clientID = "demo"
	passkey  = "demo-passkey-0123456789"
	secret   = "demo-callback-secret-0123456789abcdef"
	keyID    = "k1"
)

// fakeGateway issues numbered tokens valid for ttl and accepts flows with
// any token it issued that was not revoked.
type fakeGateway struct {
	srv     *httptest.Server
	ttl     time.Duration
	now     func() time.Time
	fetches atomic.Int32
	mu      sync.Mutex
	revoked map[string]bool
	issued  map[string]bool
}

func newFakeGateway(t *testing.T, now func() time.Time) *fakeGateway {
	g := &fakeGateway{ttl: time.Hour, now: now, revoked: map[string]bool{}, issued: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathToken, func(w http.ResponseWriter, r *http.Request) {
		var req api.TokenRequest
		json.NewDecoder(r.Body).Decode(&req)
		if req.ClientID != clientID || req.Passkey != passkey {
			w.WriteHeader(401)
			json.NewEncoder(w).Encode(api.Error{Code: api.CodeInvalidCredentials})
			return
		}
		n := g.fetches.Add(1)
		tok := "tok-" + string(rune('a'+n))
		g.mu.Lock()
		g.issued[tok] = true
		g.mu.Unlock()
		json.NewEncoder(w).Encode(api.TokenResponse{PartnerToken: tok, ExpiresAt: g.now().Add(g.ttl)})
	})
	mux.HandleFunc("POST "+api.PathFlows, func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		g.mu.Lock()
		ok := g.issued[tok] && !g.revoked[tok]
		g.mu.Unlock()
		if !ok {
			w.WriteHeader(401)
			json.NewEncoder(w).Encode(api.Error{Code: api.CodeInvalidToken})
			return
		}
		var req api.InitiateRequest
		json.NewDecoder(r.Body).Decode(&req)
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(api.InitiateResponse{UserToken: "user-" + req.CorrelationID, CorrelationID: req.CorrelationID, MaxAttempts: 3})
	})
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

func refDir(t *testing.T) string {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"alice.jpg": []byte("alice-jpeg"),
		"bob.png":   gatewaytest.PNG(gatewaytest.Green),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(filepath.Dir(dir), "outside.jpg"), []byte("secret"), 0o644)
	return dir
}

func newPartner(t *testing.T, gatewayURL string, now func() time.Time) *partnerdemo.Partner {
	cfg := partnerdemo.DefaultConfig()
	cfg.GatewayURL, cfg.ClientID, cfg.Passkey = gatewayURL, clientID, passkey
	cfg.CallbackKeys = []api.CallbackKey{{ID: keyID, Secret: []byte(secret)}}
	cfg.ReferenceDir = refDir(t)
	p, err := partnerdemo.New(cfg, partnerdemo.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestTokenCaching(t *testing.T) {
	c := &clock{}
	g := newFakeGateway(t, c.Now)
	p := newPartner(t, g.srv.URL, c.Now)
	ctx := context.Background()
	start := func() {
		t.Helper()
		if _, err := p.StartSession(ctx, partnerdemo.SessionRequest{PartnerUserID: "alice", PartnerUserIDType: "account", Flow: api.FlowSelfie}); err != nil {
			t.Fatal(err)
		}
	}
	start()
	start()
	if n := g.fetches.Load(); n != 1 {
		t.Fatalf("%d token fetches for two sessions, want 1 (cached)", n)
	}
	c.Advance(58 * time.Minute) // still > 1 min before expiry
	start()
	if n := g.fetches.Load(); n != 1 {
		t.Fatalf("refetched %d tokens before the refresh margin", n)
	}
	c.Advance(90 * time.Second) // within the last minute: refresh
	start()
	if n := g.fetches.Load(); n != 2 {
		t.Fatalf("%d token fetches, want 2 after nearing expiry", n)
	}
	// The gateway forgets the token (e.g. restarted): 401 → one refresh.
	tok, _ := p.Token(ctx)
	g.mu.Lock()
	g.revoked[tok] = true
	g.mu.Unlock()
	start()
	if n := g.fetches.Load(); n != 3 {
		t.Fatalf("%d token fetches, want 3 after a 401", n)
	}
	if p.TokenFetches() != 3 {
		t.Errorf("TokenFetches = %d", p.TokenFetches())
	}
}

func TestWrongPasskey(t *testing.T) {
	g := newFakeGateway(t, time.Now)
	cfg := partnerdemo.DefaultConfig()
	cfg.GatewayURL, cfg.ClientID, cfg.Passkey, cfg.ReferenceDir = g.srv.URL, clientID, "wrong", refDir(t)
	p, err := partnerdemo.New(cfg, partnerdemo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = p.StartSession(context.Background(), partnerdemo.SessionRequest{PartnerUserID: "a", PartnerUserIDType: "t", Flow: "selfie"})
	if err == nil || !strings.Contains(err.Error(), api.CodeInvalidCredentials) {
		t.Fatalf("err = %v", err)
	}
}

func TestReferenceAPI(t *testing.T) {
	p := newPartner(t, "http://127.0.0.1:1", time.Now)
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	tests := []struct {
		user     string
		wantCode int
		want     []byte
	}{
		{"alice", 200, []byte("alice-jpeg")},
		{"bob", 200, gatewaytest.PNG(gatewaytest.Green)},
		{"carol", 404, nil},
		{"../outside", 400, nil},
		{".hidden", 400, nil},
		{"", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/reference?partner_user_id=" + tt.user + "&partner_user_id_type=account&flow=selfie")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if tt.want != nil {
				var rr api.ReferenceResponse
				if err := json.NewDecoder(resp.Body).Decode(&rr); err != nil || !bytes.Equal(rr.Image, tt.want) {
					t.Errorf("image %q, %v", rr.Image, err)
				}
			}
		})
	}
}

// callbackBody is a callback for this partner unless partnerID says
// otherwise.
func callbackBody(deliveryID, partnerID, cid string) []byte {
	b, _ := json.Marshal(api.Callback{DeliveryID: deliveryID, Event: api.EventFlowCompleted, PartnerID: partnerID,
		CorrelationID: cid, PartnerUserID: "alice", Status: api.StatusVerified, CompletedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
	return b
}

func postCallback(t *testing.T, url string, body []byte, sig string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url+partnerdemo.PathCallback, bytes.NewReader(body))
	req.Header.Set(api.SignatureHeader, sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCallbackSignature: the partner accepts only callbacks signed with its
// own key and addressed to it; in particular a callback for its flow signed
// with another partner's secret is refused, whichever key id it names.
func TestCallbackSignature(t *testing.T) {
	p := newPartner(t, "http://127.0.0.1:1", time.Now)
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	own := api.CallbackKey{ID: keyID, Secret: []byte(secret)}
	otherPartners := api.CallbackKey{ID: "a1", Secret: []byte("acme-callback-secret-0123456789abcdef")}
	body := callbackBody("dlv_1", clientID, "c1")
	tests := []struct {
		name string
		body []byte
		sig  string
		want int
	}{
		{"missing", body, "", 401},
		{"wrong secret, own key id", body, api.SignCallback(api.CallbackKey{ID: keyID, Secret: []byte("other-secret")}, time.Now(), body), 401},
		{"another partner's key", body, api.SignCallback(otherPartners, time.Now(), body), 401},
		{"another partner's secret under our key id", body, api.SignCallback(api.CallbackKey{ID: keyID, Secret: otherPartners.Secret}, time.Now(), body), 401},
		{"another partner's secret without key id", body, api.Sign(otherPartners.Secret, time.Now(), body), 401},
		{"stale", body, api.SignCallback(own, time.Now().Add(-time.Hour), body), 401},
		{"tampered", body, strings.Replace(api.SignCallback(own, time.Now(), body), "v1=", "v1=00", 1), 401},
		{"two key ids", body, "kid=x," + api.SignCallback(own, time.Now(), body), 401},
		{"addressed to another partner", callbackBody("dlv_2", "acme", "c1"), api.SignCallback(own, time.Now(), callbackBody("dlv_2", "acme", "c1")), 403},
		{"no delivery id", callbackBody("", clientID, "c1"), api.SignCallback(own, time.Now(), callbackBody("", clientID, "c1")), 400},
	}
	for _, tt := range tests {
		if got := postCallback(t, srv.URL, tt.body, tt.sig); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	if _, ok := p.Callback("c1"); ok {
		t.Fatal("a refused callback was recorded")
	}
	if got := postCallback(t, srv.URL, body, api.SignCallback(own, time.Now(), body)); got != 204 {
		t.Fatalf("valid: %d", got)
	}
	cb, ok := p.Callback("c1")
	if !ok || cb.Callback.Status != api.StatusVerified || cb.Callback.DeliveryID != "dlv_1" || cb.KeyID != keyID || cb.Count != 1 || cb.Processed != 1 {
		t.Errorf("recorded %+v %v", cb, ok)
	}
}

// TestCallbackDeduplicated: a redelivery (same delivery id, signed again
// later) is acknowledged with 200 and not processed again; memory is
// bounded: beyond DedupCapacity ids the oldest is forgotten.
func TestCallbackDeduplicated(t *testing.T) {
	c := &clock{}
	cfg := partnerdemo.DefaultConfig()
	cfg.GatewayURL, cfg.ClientID, cfg.Passkey, cfg.ReferenceDir = "http://127.0.0.1:1", clientID, passkey, refDir(t)
	cfg.CallbackKeys = []api.CallbackKey{{ID: keyID, Secret: []byte(secret)}}
	cfg.DedupCapacity = 2
	p, err := partnerdemo.New(cfg, partnerdemo.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	own := api.CallbackKey{ID: keyID, Secret: []byte(secret)}
	deliver := func(dlv, cid string) int {
		b := callbackBody(dlv, clientID, cid)
		return postCallback(t, srv.URL, b, api.SignCallback(own, c.Now(), b))
	}
	steps := []struct {
		dlv, cid      string
		want          int
		wantCount     int
		wantProcessed int
	}{
		{"dlv_a", "ca", 204, 1, 1},
		{"dlv_a", "ca", 200, 2, 1}, // redelivered: acknowledged, not processed
		{"dlv_b", "cb", 204, 1, 1},
		{"dlv_a", "ca", 200, 3, 1},
		{"dlv_c", "cc", 204, 1, 1}, // capacity 2: dlv_a is forgotten
		{"dlv_b", "cb", 200, 2, 1},
		{"dlv_a", "ca", 204, 4, 2}, // beyond the bound a redelivery is processed again
	}
	for i, st := range steps {
		c.Advance(time.Minute)
		if got := deliver(st.dlv, st.cid); got != st.want {
			t.Fatalf("step %d (%s): %d, want %d", i, st.dlv, got, st.want)
		}
		cb, _ := p.Callback(st.cid)
		if cb.Count != st.wantCount || cb.Processed != st.wantProcessed {
			t.Errorf("step %d (%s): count %d processed %d, want %d %d", i, st.dlv, cb.Count, cb.Processed, st.wantCount, st.wantProcessed)
		}
	}
}

// TestCallbackKeyRotation: during a rotation the partner holds the old and
// the new key; a callback signed with either verifies, one naming a key it
// does not hold does not.
func TestCallbackKeyRotation(t *testing.T) {
	oldKey := api.CallbackKey{ID: "k1", Secret: []byte(secret)}
	newKey := api.CallbackKey{ID: "k2", Secret: []byte("demo-callback-secret-rotated-0123456789")}
	cfg := partnerdemo.DefaultConfig()
	cfg.GatewayURL, cfg.ClientID, cfg.Passkey, cfg.ReferenceDir = "http://127.0.0.1:1", clientID, passkey, refDir(t)
	cfg.CallbackKeys = []api.CallbackKey{newKey, oldKey}
	p, err := partnerdemo.New(cfg, partnerdemo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	tests := []struct {
		name string
		key  api.CallbackKey
		want int
	}{
		{"old key during the overlap", oldKey, 204},
		{"new key", newKey, 204},
		{"unknown key id", api.CallbackKey{ID: "k3", Secret: newKey.Secret}, 401},
		{"old secret under the new id", api.CallbackKey{ID: "k2", Secret: oldKey.Secret}, 401},
	}
	for i, tt := range tests {
		b := callbackBody(fmt.Sprintf("dlv_%d", i), clientID, fmt.Sprintf("c%d", i))
		if got := postCallback(t, srv.URL, b, api.SignCallback(tt.key, time.Now(), b)); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	if cb, ok := p.Callback("c0"); !ok || cb.KeyID != "k1" {
		t.Errorf("old-key callback recorded %+v %v, want key id k1", cb, ok)
	}
}

// TestWithGateway runs the sample partner against a real gateway (fake
// analyzer): a kiosk session is verified and the partner sees the callback
// and the details.
func TestWithGateway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pln, _ := net.Listen("tcp", "127.0.0.1:0")
	gln, _ := net.Listen("tcp", "127.0.0.1:0")
	partnerURL, gatewayURL := "http://"+pln.Addr().String(), "http://"+gln.Addr().String()

	cfg := gateway.DefaultConfig()
	cfg.Devices.RequireSignature = false // the test submits unsigned
	cfg.Database.Path = filepath.Join(t.TempDir(), "gw.db")
	cfg.Processing.PollInterval = 20 * time.Millisecond
	cfg.Partners = []gateway.PartnerConfig{{ClientID: clientID, PasskeyHashes: []string{gatewaytest.PasskeyHash(passkey)},
		ReferenceURL: partnerURL + partnerdemo.PathReference, CallbackURL: partnerURL + partnerdemo.PathCallback, Flows: []string{api.FlowSelfie},
		AllowPrivateNetwork: true,
		CallbackSecrets:     []gateway.CallbackSecretConfig{{ID: keyID, Secret: secret}}}}
	store, err := sqlitestore.Open(ctx, cfg.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	an := gatewaytest.NewAnalyzer()
	an.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(7)))   // selfie
	an.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(7))) // bob.png
	gw, err := gateway.New(cfg, gateway.Deps{Store: store, Analyzer: an})
	if err != nil {
		t.Fatal(err)
	}
	p := newPartner(t, gatewayURL, time.Now)
	var wg sync.WaitGroup
	wg.Go(func() { gw.Serve(ctx, gln) })
	wg.Go(func() { p.Serve(ctx, pln) })
	defer wg.Wait()
	defer cancel()

	// Kiosk asks the partner for a session.
	resp, err := http.Post(partnerURL+"/sessions", "application/json", strings.NewReader(`{"partner_user_id":"bob","partner_user_id_type":"account","flow":"selfie"}`))
	if err != nil {
		t.Fatal(err)
	}
	var s partnerdemo.Session
	json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	if resp.StatusCode != 201 || s.Token == "" || s.BaseURL != gatewayURL || s.CorrelationID == "" {
		t.Fatalf("session %d %+v", resp.StatusCode, s)
	}
	// Kiosk submits to the gateway with the user token.
	body, _ := json.Marshal(api.SubmissionRequest{Selfie: gatewaytest.PNG(gatewaytest.Red), DeviceID: "kiosk", DeviceLiveness: api.DeviceLiveness{Score: 0.9, Live: true}})
	req, _ := http.NewRequest("POST", s.BaseURL+api.PathSubmissions, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("submit: %v %v", resp, err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(partnerURL + "/sessions/" + s.CorrelationID)
		if err != nil {
			t.Fatal(err)
		}
		var st partnerdemo.SessionState
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if st.CallbackReceived {
			if st.Callback.Callback.Status != api.StatusVerified || st.Details == nil || st.Details.Status != api.StatusVerified ||
				st.Details.Scores.Similarity == nil || *st.Details.Scores.Similarity < 0.99 {
				t.Fatalf("state %+v details %+v", st, st.Details)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no callback after a minute: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
