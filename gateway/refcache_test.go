package gateway_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/inference"
)

// noiseEmbedding is a seeded random unit vector: its float32 bytes are
// unique, so a scan for them finds only a real copy.
func noiseEmbedding(seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, seed^0x51ed270b))
	e := make([]float32, gatewaytest.EmbeddingDim)
	var n float64
	for i := range e {
		e[i] = float32(r.NormFloat64())
		n += float64(e[i]) * float64(e[i])
	}
	for i := range e {
		e[i] /= float32(math.Sqrt(n))
	}
	return e
}

// embeddingBytes is e as stored in memory (little-endian float32).
func embeddingBytes(e []float32) []byte {
	b := make([]byte, 4*len(e))
	for i, v := range e {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// keptReferences counts the env's flow_references rows (all, and those
// holding a sealed profile).
func (e *env) keptReferences() (all, sealed int) {
	e.t.Helper()
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT COUNT(*), COUNT(sealed) FROM flow_references`).Scan(&all, &sealed); err != nil {
		e.t.Fatal(err)
	}
	return all, sealed
}

// waitKept polls until n references are kept sealed.
func (e *env) waitKept(n int) {
	e.t.Helper()
	deadline := time.Now().Add(waitGuard)
	for {
		if _, sealed := e.keptReferences(); sealed >= n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("fewer than %d references kept after %v", n, waitGuard)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// initiateChecked opens a flow with reference_check set.
func (e *env) initiateChecked(user string) (int, api.InitiateResponse, api.Error, string) {
	e.t.Helper()
	cid := fmt.Sprintf("corr-%d", flowSeq.Add(1))
	var ir api.InitiateResponse
	code, ae := e.do("POST", api.PathFlows, e.partnerToken(), api.InitiateRequest{
		PartnerUserID: user, PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: cid, ReferenceCheck: true}, nil, &ir)
	return code, ir, ae, cid
}

// referenceAnalyses counts the analyzer's calls on the (green) reference.
func referenceAnalyses(a *gatewaytest.Analyzer) int {
	n := 0
	for _, c := range a.Calls() {
		if c.Color == gatewaytest.Green {
			n++
		}
	}
	return n
}

// TestReferencePrefetchedOnce: the reference fetched and analysed when the
// flow is initiated serves a RETRY attempt, a submission handed back after
// a failure, and another gateway process (a restart sharing the key
// directory), with one fetch and one analysis in all.
func TestReferencePrefetchedOnce(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.Erasure.KeyDir = filepath.Join(t.TempDir(), "keys") })
	emb := noiseEmbedding(7)
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(emb))
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(emb))
	e.analyzer.Set(gatewaytest.Blue, gatewaytest.NoFace())
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	tok, cid := e.initiate("alice")
	e.waitKept(1)
	if n := e.partner.referenceCalls(); n != 1 {
		t.Fatalf("reference fetched %d times at initiation, want 1", n)
	}

	// Another process over the same database and keys.
	e.stop()
	e.start()
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(emb)) // the analyzer is shared: keep its script

	if _, _, ae := e.submit(tok, selfie(gatewaytest.Blue, "k1")); ae.Code != "" {
		t.Fatalf("submit 1: %+v", ae)
	}
	if st := e.waitStatus(tok); st.NextAction != api.ActionRetry || st.Reason != api.ReasonNoFace {
		t.Fatalf("attempt 1 %+v, want RETRY NO_FACE", st)
	}
	// Attempt 2: the first claim fails (handed back), the second decides.
	var failed atomic.Bool
	failedOnce := make(chan struct{})
	e.analyzer.Hook = func(_ context.Context, c color.RGBA, o inference.Options) error {
		if c == gatewaytest.Red && o.Liveness && failed.CompareAndSwap(false, true) {
			close(failedOnce)
			return fmt.Errorf("model runtime failure")
		}
		return nil
	}
	if _, _, ae := e.submit(tok, selfie(gatewaytest.Red, "k2")); ae.Code != "" {
		t.Fatalf("submit 2: %+v", ae)
	}
	<-failedOnce
	e.clock.Advance(5 * time.Second) // past the hand-back's backoff
	st := e.waitStatus(tok)
	if st.Status != api.StatusVerified {
		t.Fatalf("attempt 2 %+v, want VERIFIED", st)
	}
	if d := e.details(cid); d.Scores.Similarity == nil || *d.Scores.Similarity < 0.999 {
		t.Errorf("similarity %v, want 1 (the kept embedding)", d.Scores.Similarity)
	}
	if n := e.partner.referenceCalls(); n != 1 {
		t.Errorf("reference fetched %d times, want 1", n)
	}
	if n := referenceAnalyses(e.analyzer); n != 1 {
		t.Errorf("reference analysed %d times, want 1", n)
	}
	if all, _ := e.keptReferences(); all != 0 {
		t.Errorf("%d references kept after the decision, want 0", all)
	}
}

// TestReferenceLoadedOnceWithoutPrefetch: with prefetch off the first
// live selfie loads the reference and a retry after a failure reuses it.
func TestReferenceLoadedOnceWithoutPrefetch(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.Reference.Prefetch = 0 })
	e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
	e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
	e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
	tok, _ := e.initiate("alice")
	if n := e.partner.referenceCalls(); n != 0 {
		t.Fatalf("reference fetched %d times with prefetch off, want 0", n)
	}
	e.submit(tok, selfie(gatewaytest.Red, "k1"))
	if st := e.waitStatus(tok); st.Status != api.StatusVerified {
		t.Fatalf("status %+v", st)
	}
	if n := e.partner.referenceCalls(); n != 1 {
		t.Errorf("reference fetched %d times, want 1", n)
	}
}

// TestReferenceErased: the kept reference is sealed at rest (its embedding
// bytes are nowhere in the database files) and its row is gone once the
// flow ends: a final decision, expiry, or the user's erasure.
func TestReferenceErased(t *testing.T) {
	tests := []struct {
		name string
		end  func(e *env, tok string)
	}{
		{"exit", func(e *env, tok string) {
			e.submit(tok, selfie(gatewaytest.Red, "k1"))
			if st := e.waitStatus(tok); st.NextAction != api.ActionExit {
				e.t.Fatalf("status %+v, want EXIT", st)
			}
		}},
		{"expiry", func(e *env, tok string) {
			e.clock.Advance(e.cfg.Tokens.UserTTL + time.Minute)
			if n, err := e.gw.ExpireFlows(context.Background()); n != 1 || err != nil {
				e.t.Fatalf("ExpireFlows = %d %v, want 1", n, err)
			}
		}},
		{"erasure", func(e *env, tok string) {
			var out api.UserErasure
			if code, ae := e.do("DELETE", "/v1/users/alice?partner_user_id_type=account", e.partnerToken(), nil, nil, &out); code != 200 || out.Erased.Flows != 1 {
				e.t.Fatalf("erase: %d %+v %+v", code, ae, out)
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			emb := noiseEmbedding(uint64(100 + i))
			e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(emb))
			e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(emb))
			e.partner.serveImage(gatewaytest.PNG(gatewaytest.Green))
			tok, _ := e.initiate("alice")
			e.waitKept(1)
			secret := embeddingBytes(emb)
			if l := gatewaytest.Leaks(sqliteFiles(t, e.dbPath), secret); len(l) > 0 {
				t.Errorf("database files hold the reference embedding in clear while kept: %v", l)
			}
			tt.end(e, tok)
			if all, _ := e.keptReferences(); all != 0 {
				t.Errorf("%d references kept after %s, want 0", all, tt.name)
			}
			if l := gatewaytest.Leaks(sqliteFiles(t, e.dbPath), secret); len(l) > 0 {
				t.Errorf("database files hold the reference embedding after %s: %v", tt.name, l)
			}
		})
	}
}

// TestReferenceCheck: reference_check answers at initiation whether the
// reference is usable; an unusable or unreachable one creates no flow.
func TestReferenceCheck(t *testing.T) {
	tests := []struct {
		name      string
		handler   func(w http.ResponseWriter, r *http.Request)
		wantCode  int
		wantErr   string
		wantMsg   string // in the error message
		wantCalls int
		deadline  time.Duration // reference.check_deadline; 0: the default
	}{
		{"usable", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Write(gatewaytest.PNG(gatewaytest.Green))
		}, http.StatusCreated, "", "", 1, 0},
		{"no face", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Write(gatewaytest.PNG(gatewaytest.Grey))
		}, http.StatusUnprocessableEntity, api.CodeReferenceUnusable, "no usable face in the reference image (NO_FACE)", 1, 0},
		{"not found", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no such user", http.StatusNotFound)
		}, http.StatusUnprocessableEntity, api.CodeReferenceUnusable, "reference API answered 404", 1, 0},
		{"not an image", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write([]byte("nope"))
		}, http.StatusUnprocessableEntity, api.CodeReferenceUnusable, "cannot be decoded", 1, 0},
		{"server error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, http.StatusBadGateway, api.CodeReferenceUnavailable, "reference API answered 500", 3, 0},
		{"hangs past the check deadline", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // answers only when the gateway gives up
		}, http.StatusBadGateway, api.CodeReferenceUnavailable, "did not finish within 100ms", 1, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *gateway.Config) {
				if tt.deadline > 0 {
					c.Reference.CheckDeadline = tt.deadline
				}
			})
			e.analyzer.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(1)))
			e.analyzer.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(1)))
			e.analyzer.Set(gatewaytest.Grey, gatewaytest.NoFace())
			e.partner.setReference(tt.handler)
			code, ir, ae, cid := e.initiateChecked("alice")
			if code != tt.wantCode || ae.Code != tt.wantErr || !strings.Contains(ae.Message, tt.wantMsg) {
				t.Fatalf("initiate: %d %+v, want %d %q containing %q", code, ae, tt.wantCode, tt.wantErr, tt.wantMsg)
			}
			if n := e.partner.referenceCalls(); n != tt.wantCalls {
				t.Errorf("reference fetched %d times, want %d", n, tt.wantCalls)
			}
			if tt.wantErr != "" {
				if all, _ := e.keptReferences(); all != 0 {
					t.Errorf("%d references kept for a refused initiation", all)
				}
				if code, _ := e.do("GET", "/v1/submissions/"+cid, e.partnerToken(), nil, nil, nil); code != http.StatusNotFound {
					t.Errorf("details of a refused initiation: %d, want 404", code)
				}
				return
			}
			if !ir.ReferenceChecked {
				t.Errorf("response %+v, want reference_checked", ir)
			}
			if _, sealed := e.keptReferences(); sealed != 1 {
				t.Fatalf("%d references kept after the check, want 1", sealed)
			}
			// The checked reference serves the selfie: no second fetch.
			e.submit(ir.UserToken, selfie(gatewaytest.Red, "k1"))
			if st := e.waitStatus(ir.UserToken); st.Status != api.StatusVerified {
				t.Fatalf("status %+v, want VERIFIED", st)
			}
			if n := e.partner.referenceCalls(); n != 1 {
				t.Errorf("reference fetched %d times after the check, want 1", n)
			}
			if n := referenceAnalyses(e.analyzer); n != 1 {
				t.Errorf("reference analysed %d times, want 1", n)
			}
		})
	}
	t.Run("unchecked", func(t *testing.T) {
		e := newEnv(t, func(c *gateway.Config) { c.Reference.Prefetch = 0 })
		tok, _ := e.initiate("alice")
		if tok == "" || e.partner.referenceCalls() != 0 {
			t.Fatalf("unchecked initiation fetched the reference %d times", e.partner.referenceCalls())
		}
	})
}
