// Package agenttest holds fakes for testing the agent: a scripted
// inference.Analyzer keyed by frame colour and a fake gateway served over
// real HTTP.
package agenttest

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
)

// Analyzer answers Analyze by the colour of the frame's top-left pixel.
type Analyzer struct {
	// ByColor maps a frame colour to its analysis; Default answers others.
	ByColor map[color.RGBA]inference.Analysis
	Default inference.Analysis
	// Err, when set, is returned instead.
	Err error

	mu    sync.Mutex
	calls int
}

// Analyze returns the scripted analysis for img.
func (a *Analyzer) Analyze(ctx context.Context, img image.Image, opts inference.Options) (inference.Analysis, error) {
	a.mu.Lock()
	a.calls++
	a.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return inference.Analysis{}, err
	}
	if a.Err != nil {
		return inference.Analysis{}, a.Err
	}
	b := img.Bounds()
	c := color.RGBAModel.Convert(img.At(b.Min.X, b.Min.Y)).(color.RGBA)
	if an, ok := a.ByColor[c]; ok {
		return an, nil
	}
	return a.Default, nil
}

// Calls returns how many times Analyze ran.
func (a *Analyzer) Calls() int { a.mu.Lock(); defer a.mu.Unlock(); return a.calls }

// OneFace returns an analysis with one face at box; live selects a
// liveness of 0.95 (decision OK) or 0.05 (LIVENESS_FAILED).
func OneFace(box inference.Box, live bool) inference.Analysis {
	f := inference.Face{Box: box, Score: 0.99, Liveness: 0.95, Live: true,
		Quality: inference.Quality{FaceSize: min(box.W, box.H), Sharpness: 250, Brightness: 120}}
	d := inference.DecisionOK
	if !live {
		f.Liveness, f.Live, d = 0.05, false, inference.DecisionLivenessFailed
	}
	return inference.Analysis{Width: 1280, Height: 960, Faces: []inference.Face{f}, Decision: d, Subject: 0}
}

// NoFace returns an analysis without faces.
func NoFace() inference.Analysis {
	return inference.Analysis{Width: 1280, Height: 960, Decision: inference.DecisionNoFace, Subject: -1}
}

// Submission is one request the fake gateway received.
type Submission struct {
	Auth       string
	HeaderKey  string
	Request    api.SubmissionRequest
	StatusCode int
}

// Gateway is a fake verification gateway. Script it with the function
// fields; it records submissions and polls.
type Gateway struct {
	Server *httptest.Server
	// OnSubmit decides the HTTP status of submission n (1-based); nil
	// answers 202.
	OnSubmit func(n int, req api.SubmissionRequest) int
	// OnStatus answers poll p (1-based, counted across the flow) after
	// `uploads` accepted submissions; nil answers EXIT VERIFIED.
	OnStatus func(uploads, poll int) (api.StatusResponse, int)
	// ErrorCode, when set, names the api.Error code of a refused
	// submission n with HTTP status (e.g. "flow_final" for 409,
	// "unknown_device" for 403); nil or "" uses the status text in snake
	// case ("conflict", "forbidden").
	ErrorCode func(n, status int) string

	mu    sync.Mutex
	subs  []Submission
	polls int
	keys  map[string]bool
	// Token is the bearer token accepted; others get 401.
	Token string
}

// NewGateway starts a fake gateway accepting token.
func NewGateway(token string) *Gateway {
	g := &Gateway{Token: token, keys: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathSubmissions, g.submit)
	mux.HandleFunc("GET "+api.PathStatus, g.status)
	g.Server = httptest.NewServer(mux)
	return g
}

// Close stops the server.
func (g *Gateway) Close() { g.Server.Close() }

// URL is the base URL.
func (g *Gateway) URL() string { return g.Server.URL }

func (g *Gateway) authorized(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer "+g.Token {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(api.Error{Code: "invalid_token", Message: "unknown token"})
		return false
	}
	return true
}

func (g *Gateway) submit(w http.ResponseWriter, r *http.Request) {
	var req api.SubmissionRequest
	json.NewDecoder(r.Body).Decode(&req)
	g.mu.Lock()
	n := len(g.subs) + 1
	code := http.StatusAccepted
	if g.OnSubmit != nil {
		code = g.OnSubmit(n, req)
	}
	g.subs = append(g.subs, Submission{Auth: r.Header.Get("Authorization"), HeaderKey: r.Header.Get("Idempotency-Key"), Request: req, StatusCode: code})
	dup := g.keys[req.IdempotencyKey]
	if code < 300 {
		g.keys[req.IdempotencyKey] = true
	}
	accepted := len(g.keys)
	g.mu.Unlock()
	if !g.authorized(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if code >= 300 {
		errCode := strings.ToLower(strings.ReplaceAll(http.StatusText(code), " ", "_"))
		if g.ErrorCode != nil {
			if c := g.ErrorCode(n, code); c != "" {
				errCode = c
			}
		}
		json.NewEncoder(w).Encode(api.Error{Code: errCode, Message: "scripted"})
		return
	}
	json.NewEncoder(w).Encode(api.SubmissionResponse{SubmissionID: req.IdempotencyKey, Attempt: accepted, Status: api.StatusProcessing, Duplicate: dup})
}

func (g *Gateway) status(w http.ResponseWriter, r *http.Request) {
	if !g.authorized(w, r) {
		return
	}
	g.mu.Lock()
	g.polls++
	uploads, poll := len(g.keys), g.polls
	g.mu.Unlock()
	resp, code := api.StatusResponse{Status: api.StatusVerified, NextAction: api.ActionExit}, http.StatusOK
	if g.OnStatus != nil {
		resp, code = g.OnStatus(uploads, poll)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(resp)
}

// Submissions returns the recorded submissions.
func (g *Gateway) Submissions() []Submission {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Submission(nil), g.subs...)
}

// Polls returns how many status polls arrived.
func (g *Gateway) Polls() int { g.mu.Lock(); defer g.mu.Unlock(); return g.polls }
