// Package loadtest drives real gateways on loopback the way kiosks and a
// partner do, and measures what one verification costs: the sustained rate
// of a closed loop, latency at half that rate, peak RSS and the process's
// CPU time per verification beside the time spent in model calls.
//
// Each verification is a flow initiated by the partner (POST /v1/flows, one
// cached partner token), a selfie submitted with a device signature
// (ed25519, as faceagent signs) and status polls until the decision. The
// partner's reference API is an HTTP server on 127.0.0.1 answering the
// reference image as JSON. Gateways run in this process (one, or several
// replicas on one PostgreSQL database), so the CPU figures include the load
// generator's own small share (JSON, base64, signing, polling).
//
// One selfie is submitted many times, which the SUBMISSION_REPLAY check
// would refuse: the bench's store records every selfie in the replay cache
// as usual but looks for repeats only among selfies seen a day after this
// one (none), so each verification pays the real database work and none
// is refused.
package loadtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/pgstore"
	"github.com/faceverify/faceverify/gateway/sqlitestore"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/cputime"
)

// Options configure one bench run. Zero values take the defaults noted.
type Options struct {
	// Analyzer runs the models (inference/onnx in production); it is
	// shared by every replica. Required.
	Analyzer inference.Analyzer
	// Selfie and Reference are encoded JPEG/PNG photos of one person: the
	// kiosk's capture and the partner's reference. Required.
	Selfie, Reference []byte
	// Config is the gateway configuration to start from; nil means
	// gateway.DefaultConfig(). Listen, database, partners, devices, keys
	// and rate limits are set by the bench.
	Config *gateway.Config
	// Dir holds the SQLite database and the key directory. Required.
	Dir string
	// PostgresDSN, when set, runs Replicas gateways on that database
	// instead of one on SQLite.
	PostgresDSN string
	Replicas    int // default 1; > 1 needs PostgresDSN
	// Clients is the closed loop's concurrency (default 2 × workers ×
	// replicas); Verifications is how many it completes (default 30).
	Clients       int
	Verifications int
	// LatencyVerifications is how many verifications are started at 50 %
	// of the sustained rate for the latency percentiles (default 30); 0
	// with LatencyOff skips that phase.
	LatencyVerifications int
	LatencyOff           bool
	// Walk is the time between a flow's initiation and its selfie in the
	// latency phase (the person walking to the kiosk; default 0). The
	// closed loop submits at once.
	Walk time.Duration
	// Poll is the status poll interval (default 10 ms), which bounds the
	// latency's resolution. It applies when StatusWait is 0.
	Poll time.Duration
	// StatusWait, when positive, makes each status call a long poll
	// (GET /v1/status?wait=StatusWait), as faceagent's session.status_wait
	// does: the gateway answers when the decision is recorded, and a call
	// that ends still PROCESSING is repeated at once. 0 polls every Poll.
	StatusWait time.Duration
}

// Report is what a run measured. Times are milliseconds.
type Report struct {
	Replicas int    `json:"replicas"`
	Store    string `json:"store"` // "sqlite" or "postgres"
	Workers  int    `json:"workers"`
	Clients  int    `json:"clients"`
	// Verifications completed in the closed loop, over Seconds of wall
	// time: PerSecond = Verifications / Seconds.
	Verifications int     `json:"verifications"`
	Seconds       float64 `json:"seconds"`
	PerSecond     float64 `json:"verifications_per_second"`
	// Decisions counts the closed loop's decisions by status/reason.
	Decisions map[string]int `json:"decisions"`
	// CoreMS is the process's CPU time (user + system, every core) per
	// closed-loop verification. ModelCoreMS is the CPU time of the Analyze
	// calls per verification (selfie + reference: model runs with their
	// pre- and post-processing; see countingAnalyzer), ModelMS their wall
	// time, and Ratio = CoreMS / ModelCoreMS, the gateway's cost over its
	// model floor.
	CoreMS      float64 `json:"core_ms_per_verification"`
	ModelCoreMS float64 `json:"model_core_ms_per_verification"`
	ModelMS     float64 `json:"model_ms_per_verification"`
	Ratio       float64 `json:"core_to_model_ratio"`
	// AnalyzeCalls per verification (2 when the reference is analysed once
	// per flow).
	AnalyzeCalls float64 `json:"analyze_calls_per_verification"`
	// Polls is the status calls per closed-loop verification (every
	// Options.Poll, or long polls of Options.StatusWait, until the
	// decision); their cost is in CoreMS.
	Polls float64 `json:"status_polls_per_verification"`
	// Latency at half the sustained rate: from the selfie's upload to the
	// status call that saw the decision.
	LatencyRate float64 `json:"latency_rate_per_second,omitempty"`
	LatencyN    int     `json:"latency_verifications,omitempty"`
	P50MS       float64 `json:"p50_ms,omitempty"`
	P99MS       float64 `json:"p99_ms,omitempty"`
	// PeakRSSMiB is the process's peak resident set (getrusage maxrss).
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// Format writes r as the lines `facegateway bench` prints.
func (r Report) Format(w io.Writer) {
	fmt.Fprintf(w, "store: %s, replicas: %d, workers per replica: %d, clients: %d\n", r.Store, r.Replicas, r.Workers, r.Clients)
	fmt.Fprintf(w, "verifications/s: %.2f (closed loop, %d verifications in %.1f s)\n", r.PerSecond, r.Verifications, r.Seconds)
	keys := make([]string, 0, len(r.Decisions))
	for k := range r.Decisions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "decisions: %s %d\n", k, r.Decisions[k])
	}
	if r.LatencyN > 0 {
		fmt.Fprintf(w, "latency at 50%% (%.2f/s, %d verifications): p50 %.0f ms, p99 %.0f ms\n", r.LatencyRate, r.LatencyN, r.P50MS, r.P99MS)
	}
	fmt.Fprintf(w, "peak RSS: %.0f MiB\n", r.PeakRSSMiB)
	fmt.Fprintf(w, "CPU: %.1f core-ms per verification; model calls %.1f core-ms (%.1f ms wall) in %.2f Analyze calls; ratio %.2f; %.1f status polls\n",
		r.CoreMS, r.ModelCoreMS, r.ModelMS, r.AnalyzeCalls, r.Ratio, r.Polls)
}

// countingAnalyzer sums the wall time and the CPU time of Analyze calls.
// Each call is pinned to its OS thread and charged that thread's CPU time:
// the model runs and their pre- and post-processing, complete when ONNX
// Runtime computes on the calling thread (intra-op threads = 1); with a
// thread pool the pool's share is not counted.
type countingAnalyzer struct {
	inference.Analyzer
	calls    atomic.Int64
	nanos    atomic.Int64 // wall
	cpuNanos atomic.Int64
}

func (c *countingAnalyzer) Analyze(ctx context.Context, img image.Image, o inference.Options) (inference.Analysis, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0, _ := cputime.Thread()
	t := time.Now()
	a, err := c.Analyzer.Analyze(ctx, img, o)
	c.nanos.Add(int64(time.Since(t)))
	cpu1, _ := cputime.Thread()
	c.cpuNanos.Add(int64(cpu1 - cpu0))
	c.calls.Add(1)
	return a, err
}

// The bench's stores: the backend, with a replay cache that records every
// selfie but finds no repeats (see the package doc).
type benchSQLite struct{ *sqlitestore.Store }

func (s benchSQLite) RecordSelfie(ctx context.Context, h gateway.SelfieHash, probes []inference.PHash, _ time.Time) ([]gateway.SelfieHash, error) {
	return s.Store.RecordSelfie(ctx, h, probes, h.SeenAt.Add(24*time.Hour))
}

type benchPG struct{ *pgstore.Store }

func (s benchPG) RecordSelfie(ctx context.Context, h gateway.SelfieHash, probes []inference.PHash, _ time.Time) ([]gateway.SelfieHash, error) {
	return s.Store.RecordSelfie(ctx, h, probes, h.SeenAt.Add(24*time.Hour))
}

const (
	benchClient  = "bench"
	benchPasskey = "bench-passkey-0123456789"
	benchDevice  = "bench-kiosk"
)

// run is one bench run's state.
type run struct {
	opts    Options
	urls    []string
	client  *http.Client
	key     ed25519.PrivateKey
	token   string
	seq     atomic.Int64
	polls   atomic.Int64
	decided sync.Map // "STATUS/REASON" → *atomic.Int64
}

// Run starts the partner and the gateways, runs the closed loop and the
// latency phase, stops everything and returns the report.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Analyzer == nil || len(o.Selfie) == 0 || len(o.Reference) == 0 || o.Dir == "" {
		return Report{}, errors.New("loadtest: Analyzer, Selfie, Reference and Dir are required")
	}
	o.Replicas = max(o.Replicas, 1)
	if o.Replicas > 1 && o.PostgresDSN == "" {
		return Report{}, errors.New("loadtest: more than one replica needs a PostgreSQL DSN")
	}
	cfg := gateway.DefaultConfig()
	if o.Config != nil {
		cfg = *o.Config
	}
	if o.Clients <= 0 {
		o.Clients = 2 * cfg.Processing.Workers * o.Replicas
	}
	if o.Verifications <= 0 {
		o.Verifications = 30
	}
	if o.LatencyVerifications <= 0 {
		o.LatencyVerifications = 30
	}
	if o.Poll <= 0 {
		o.Poll = 10 * time.Millisecond
	}
	an := &countingAnalyzer{Analyzer: o.Analyzer}
	o.Analyzer = an

	// The partner's reference API.
	refBody, _ := json.Marshal(api.ReferenceResponse{Image: o.Reference})
	partner := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(refBody)
	})}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Report{}, err
	}
	go partner.Serve(pln)
	defer partner.Close()

	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	var secret [16]byte
	rand.Read(secret[:])
	cfg.Listen = "127.0.0.1:0"
	cfg.Database.Path = filepath.Join(o.Dir, "bench.db")
	cfg.Erasure.KeyDir = filepath.Join(o.Dir, "keys")
	cfg.Audit.Key = hex.EncodeToString(secret[:])
	cfg.Devices.RequireSignature = true
	gatewaytest.NoRateLimits(&cfg.Limits.Rate)
	cfg.Partners = []gateway.PartnerConfig{{
		ClientID: benchClient, PasskeyHashes: []string{gatewaytest.PasskeyHash(benchPasskey)},
		ReferenceURL: "http://" + pln.Addr().String() + "/reference", Flows: []string{api.FlowSelfie},
		AllowPrivateNetwork: true, InsecureAllowHTTP: true,
	}}

	r := &run{opts: o, key: key, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * o.Clients}}}
	gctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, o.Replicas)
	defer func() { cancel(); wg.Wait() }()
	storeName := "sqlite"
	if o.PostgresDSN != "" {
		storeName = "postgres"
	}
	for i := range o.Replicas {
		var store gateway.Store
		if o.PostgresDSN != "" {
			s, err := pgstore.Open(ctx, o.PostgresDSN)
			if err != nil {
				return Report{}, err
			}
			store = benchPG{s}
		} else {
			s, err := sqlitestore.Open(ctx, cfg.Database.Path)
			if err != nil {
				return Report{}, err
			}
			store = benchSQLite{s}
		}
		if i == 0 {
			reg, ok := store.(gateway.DeviceRegistry)
			if !ok {
				store.Close()
				return Report{}, errors.New("loadtest: store keeps no device registry")
			}
			if _, _, err := reg.AddDevice(ctx, gateway.Device{ID: benchDevice, PublicKey: pub, Label: "facegateway bench", CreatedAt: time.Now()}); err != nil {
				store.Close()
				return Report{}, fmt.Errorf("register bench device: %w", err)
			}
		}
		gw, err := gateway.New(cfg, gateway.Deps{Store: store, Analyzer: an, Owner: fmt.Sprintf("bench-%d", i)})
		if err != nil {
			store.Close()
			return Report{}, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			store.Close()
			return Report{}, err
		}
		r.urls = append(r.urls, "http://"+ln.Addr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer store.Close()
			if err := gw.Serve(gctx, ln); err != nil {
				errs <- err
			}
		}()
	}
	if r.token, err = r.partnerToken(ctx); err != nil {
		return Report{}, err
	}
	// One warm-up verification (model sessions, connection pools).
	if _, err := r.verify(ctx, 0, 0); err != nil {
		return Report{}, fmt.Errorf("warm-up: %w", err)
	}
	r.decided.Clear()

	rep := Report{Replicas: o.Replicas, Store: storeName, Workers: cfg.Processing.Workers, Clients: o.Clients, Verifications: o.Verifications}
	calls0, nanos0, cpuNanos0, polls0 := an.calls.Load(), an.nanos.Load(), an.cpuNanos.Load(), r.polls.Load()
	cpu0 := cputime.Process()
	start := time.Now()
	var next atomic.Int64
	var loopErr error
	var errOnce sync.Once
	var cwg sync.WaitGroup
	for c := range o.Clients {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for next.Add(1) <= int64(o.Verifications) {
				if _, err := r.verify(ctx, c, 0); err != nil {
					errOnce.Do(func() { loopErr = err })
					return
				}
			}
		}()
	}
	cwg.Wait()
	if loopErr != nil {
		return Report{}, loopErr
	}
	rep.Seconds = time.Since(start).Seconds()
	cpu := cputime.Process() - cpu0
	n := float64(o.Verifications)
	rep.PerSecond = n / rep.Seconds
	rep.CoreMS = float64(cpu.Microseconds()) / 1000 / n
	rep.ModelMS = float64(an.nanos.Load()-nanos0) / 1e6 / n
	rep.ModelCoreMS = float64(an.cpuNanos.Load()-cpuNanos0) / 1e6 / n
	rep.AnalyzeCalls = float64(an.calls.Load()-calls0) / n
	rep.Polls = float64(r.polls.Load()-polls0) / n
	if rep.ModelCoreMS > 0 {
		rep.Ratio = rep.CoreMS / rep.ModelCoreMS
	}
	rep.Decisions = map[string]int{}
	r.decided.Range(func(k, v any) bool {
		rep.Decisions[k.(string)] = int(v.(*atomic.Int64).Load())
		return true
	})

	if !o.LatencyOff {
		rate := rep.PerSecond / 2
		interval := time.Duration(float64(time.Second) / rate)
		lat := make([]float64, o.LatencyVerifications)
		var lwg sync.WaitGroup
		t0 := time.Now()
		for i := range o.LatencyVerifications {
			if d := time.Until(t0.Add(time.Duration(i) * interval)); d > 0 {
				select {
				case <-ctx.Done():
					return Report{}, ctx.Err()
				case <-time.After(d):
				}
			}
			lwg.Add(1)
			go func() {
				defer lwg.Done()
				d, err := r.verify(ctx, i, o.Walk)
				if err != nil {
					errOnce.Do(func() { loopErr = err })
					return
				}
				lat[i] = float64(d.Microseconds()) / 1000
			}()
		}
		lwg.Wait()
		if loopErr != nil {
			return Report{}, loopErr
		}
		slices.Sort(lat)
		rep.LatencyRate, rep.LatencyN = rate, len(lat)
		rep.P50MS, rep.P99MS = percentile(lat, 0.50), percentile(lat, 0.99)
	}
	rep.PeakRSSMiB = peakRSSMiB()
	select {
	case err := <-errs:
		return rep, err
	default:
	}
	return rep, nil
}

// percentile of sorted v (nearest rank).
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(v)))) - 1
	return v[min(max(i, 0), len(v)-1)]
}

// peakRSSMiB is the process's peak resident set (Linux reports KiB).
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024
}

// do makes one JSON call to base and decodes a 2xx answer into out.
func (r *run) do(ctx context.Context, method, url, bearer string, body []byte, hdr http.Header, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, req.URL.Path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (r *run) partnerToken(ctx context.Context) (string, error) {
	body, _ := json.Marshal(api.TokenRequest{ClientID: benchClient, Passkey: benchPasskey})
	var tr api.TokenResponse
	if err := r.do(ctx, http.MethodPost, r.urls[0]+api.PathToken, "", body, nil, &tr); err != nil {
		return "", err
	}
	return tr.PartnerToken, nil
}

// verify runs one verification through replica i mod replicas (the flow
// on one, the selfie and polls on the next, as a load balancer would): it
// initiates a flow, waits walk, submits the signed selfie and polls until
// the decision. It returns the time from the upload to the decision.
func (r *run) verify(ctx context.Context, i int, walk time.Duration) (time.Duration, error) {
	n := r.seq.Add(1)
	initURL := r.urls[i%len(r.urls)]
	kioskURL := r.urls[(i+1)%len(r.urls)]
	cid := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), n)
	body, _ := json.Marshal(api.InitiateRequest{PartnerUserID: fmt.Sprintf("user-%d", n), PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: cid})
	var ir api.InitiateResponse
	if err := r.do(ctx, http.MethodPost, initURL+api.PathFlows, r.token, body, nil, &ir); err != nil {
		return 0, err
	}
	if walk > 0 {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(walk):
		}
	}
	sub, _ := json.Marshal(api.SubmissionRequest{
		Selfie:         r.opts.Selfie,
		DeviceLiveness: api.DeviceLiveness{Score: 0.9, Live: true, Model: "fr_liveness.onnx"},
		DeviceID:       benchDevice,
		IdempotencyKey: cid + "-1",
		CapturedAt:     time.Now().UTC(),
	})
	dev, ts, sig := api.SignDevice(r.key, benchDevice, cid, time.Now(), sub)
	hdr := http.Header{api.DeviceHeader: {dev}, api.DeviceTimestampHeader: {ts}, api.DeviceSignatureHeader: {sig}}
	statusURL, poll := kioskURL+api.PathStatus, r.opts.Poll
	if r.opts.StatusWait > 0 {
		statusURL += "?" + url.Values{api.ParamWait: {r.opts.StatusWait.String()}}.Encode()
		poll = 0
	}
	start := time.Now()
	if err := r.do(ctx, http.MethodPost, kioskURL+api.PathSubmissions, ir.UserToken, sub, hdr, nil); err != nil {
		return 0, err
	}
	for {
		var st api.StatusResponse
		r.polls.Add(1)
		if err := r.do(ctx, http.MethodGet, statusURL, ir.UserToken, nil, nil, &st); err != nil {
			return 0, err
		}
		if st.Status != api.StatusProcessing {
			d := time.Since(start)
			k := st.Status
			if st.Reason != "" {
				k += "/" + st.Reason
			}
			v, _ := r.decided.LoadOrStore(k, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
			return d, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(poll):
		}
	}
}
