// Package gateway is the faceverify verification gateway: the HTTP/JSON API
// of gateway/api (partner tokens, flow initiation, selfie submissions,
// status polls, submission details), asynchronous restart-safe processing of
// submissions (passive liveness on the selfie, reference image from the
// partner, 1:1 face match) and signed completion callbacks delivered from a
// database outbox.
//
// Construct with New(cfg, Deps{Store, Analyzer, ...}) and call Run (listen on
// cfg.Listen) or Serve (a listener of your own); both return nil when the
// context is cancelled, after a graceful shutdown. State lives in a Store
// (gateway/sqlitestore, one SQLite file, is the embedded default;
// gateway/pgstore runs on PostgreSQL for replicated gateways), so a
// restarted gateway resumes pending submissions and undelivered callbacks.
// The embedded MQTT broker is gateway/broker and the live fleet page
// gateway/fleet; the wire contracts are gateway/api (HTTP) and
// gateway/mqttapi (MQTT).
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/faceverify/faceverify/inference"
)

// DecodeFunc decodes an encoded JPEG/PNG into an upright image, refusing
// more than maxPixels pixels; inference.Decode is the production one.
type DecodeFunc func(r io.Reader, maxPixels int) (image.Image, error)

// Deps are the gateway's collaborators, each set once.
type Deps struct {
	// Store persists all state. Required; the caller closes it after Run.
	Store Store
	// Analyzer runs face detection, liveness and embedding (inference/onnx
	// in production, a fake in tests). Required; it must be safe for
	// concurrent use by Config.Processing.Workers goroutines.
	Analyzer inference.Analyzer
	// Decode defaults to inference.Decode.
	Decode DecodeFunc
	// Logger defaults to a discarding logger.
	Logger *slog.Logger
	// HTTPClient, when set, makes every outbound call (reference images,
	// callbacks) as is: the caller then owns the address checks. By
	// default each partner gets its own client whose dialer refuses
	// loopback, private, link-local, CGNAT, multicast and other special
	// addresses at connect time unless the partner has
	// allow_private_network (netguard.go); per-call timeouts come from
	// Config.
	HTTPClient *http.Client
	// LookupNetIP resolves partner host names for the default clients;
	// defaults to net.DefaultResolver.LookupNetIP(ctx, "ip", host).
	LookupNetIP func(ctx context.Context, host string) ([]netip.Addr, error)
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// Registry receives the gateway's metrics and is served on /metrics;
	// defaults to a new private registry.
	Registry *prometheus.Registry
	// Owner names this process in submission leases; defaults to
	// "<hostname>-<random>".
	Owner string
	// Devices is the registry of devices allowed to submit; defaults to
	// Store when it implements DeviceRegistry.
	Devices DeviceRegistry
}

// Gateway is a configured gateway. Its methods are safe for concurrent use.
type Gateway struct {
	cfg      Config
	store    Store
	analyzer inference.Analyzer
	decode   DecodeFunc
	pooled   bool // decode is the default: decodeImage recycles pixel buffers
	log      *slog.Logger
	client   *http.Client
	now      func() time.Time
	reg      *prometheus.Registry
	metrics  *metrics
	owner    string
	handler  http.Handler
	devices  *deviceAuth
	limits   *limiters       // rate limits (ratelimit.go)
	passkeys *passkeyChecker // partner passkey hashes (passkey.go)
	keys     *SelfieKeys     // seals selfies before they reach the store
	budget   *decodeBudget
	// partnerClients are the default outbound clients by client id.
	partnerClients map[string]*http.Client
	replay         *replayGuard
	refs           *refCache  // analysed references of open flows (refcache.go)
	checks         *refChecks // reference_check fetches in flight (refcheck.go)
	decoded        *decodedSelfies
	waits          *statusWaits // status long polls (statuswait.go)

	wakeWork     chan struct{} // a submission was accepted
	wakeCallback chan struct{} // a callback was queued
}

// New validates cfg and returns a Gateway ready to Run. Errors name the
// invalid setting or the missing dependency.
func New(cfg Config, deps Deps) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	if deps.Store == nil {
		return nil, errors.New("gateway: Deps.Store is required")
	}
	if deps.Analyzer == nil {
		return nil, errors.New("gateway: Deps.Analyzer is required")
	}
	g := &Gateway{
		cfg:          cfg,
		store:        deps.Store,
		analyzer:     deps.Analyzer,
		decode:       deps.Decode,
		log:          deps.Logger,
		client:       deps.HTTPClient,
		now:          deps.Now,
		reg:          deps.Registry,
		owner:        deps.Owner,
		wakeWork:     make(chan struct{}, 1),
		wakeCallback: make(chan struct{}, 1),
	}
	if g.decode == nil {
		g.decode = inference.Decode
		g.pooled = true
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.log = g.log.With("component", "gateway")
	warnLowMatchThreshold(cfg.Inference, g.log)
	if g.client == nil {
		// Redirects are not followed: a reference or callback URL answers
		// itself, so a partner answer cannot bounce the gateway to
		// another (e.g. internal) address.
		g.client = newPartnerClient(false, deps.LookupNetIP, nil)
		g.partnerClients = make(map[string]*http.Client, len(cfg.Partners))
		for _, p := range cfg.Partners {
			g.partnerClients[p.ClientID] = newPartnerClient(p.AllowPrivateNetwork, deps.LookupNetIP, nil)
		}
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.reg == nil {
		g.reg = prometheus.NewRegistry()
	}
	if g.owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		rand.Read(b[:])
		g.owner = host + "-" + hex.EncodeToString(b[:])
	}
	g.metrics = newMetrics(g.reg)
	g.refs = newRefCache(g.reg)
	g.checks = newRefChecks(cfg.Reference.MaxChecks)
	g.decoded = newDecodedSelfies(cfg.Processing.Workers + 2)
	g.budget = newDecodeBudget(cfg.Limits.DecodeMemory, g.reg)
	devices, err := newDeviceAuth(cfg.Devices, deps.Devices, deps.Store, g.reg, g.log)
	if err != nil {
		return nil, err
	}
	g.devices = devices
	if g.limits, err = newLimiters(cfg.Limits.Rate, g.reg); err != nil {
		return nil, err
	}
	if g.passkeys, err = newPasskeyChecker(cfg.Partners, cfg.Limits.Rate.PasskeyChecks); err != nil {
		return nil, err
	}
	if g.keys, err = NewSelfieKeys(cfg.Erasure); err != nil {
		return nil, err
	}
	if g.replay, err = newReplayGuard(cfg.Replay, deps.Store, g.reg); err != nil {
		return nil, err
	}
	g.waits = newStatusWaits(cfg.Status.MaxWaiters, g.reg)
	g.handler = g.routes()
	return g, nil
}

// Handler is the HTTP API (/v1/..., /healthz, /metrics) without the
// background workers; Serve runs both.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Run listens on Config.Listen and calls Serve.
func (g *Gateway) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", g.cfg.Listen, err)
	}
	return g.Serve(ctx, ln)
}

// Serve serves the API on ln (HTTPS when Config.TLSCert is set) and runs the
// submission workers, the callback outbox and the token janitor until ctx is
// cancelled, then shuts down gracefully within Config.ShutdownTimeout and
// returns nil. Any component failing stops the others and returns its error.
// Serve closes ln.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// Long polls answer at once when shutdown begins instead of holding it.
	srv.RegisterOnShutdown(g.waits.stop)
	var grp run.Group
	{
		grp.Add(func() error {
			g.log.Info("serving", "addr", ln.Addr().String(), "tls", g.cfg.TLSCert != "")
			var err error
			if g.cfg.TLSCert != "" {
				err = srv.ServeTLS(ln, g.cfg.TLSCert, g.cfg.TLSKey)
			} else {
				err = srv.Serve(ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("http server: %w", err)
		}, func(error) {
			sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				g.log.Warn("http shutdown", "err", err)
				srv.Close()
			}
		})
	}
	{
		wctx, cancel := context.WithCancel(ctx)
		grp.Add(func() error { return g.RunBackground(wctx) }, func(error) { cancel() })
	}
	{
		done := make(chan struct{})
		grp.Add(func() error {
			select {
			case <-ctx.Done():
			case <-done:
			}
			return nil
		}, func(error) { close(done) })
	}
	return grp.Run()
}

// RunBackground runs the submission workers, the callback outbox, the
// token janitor, the flow expirer, the selfie-key shredder and the retention purge (no HTTP) until ctx is cancelled; it returns nil then, after
// in-flight work has finished or been abandoned to its lease.
func (g *Gateway) RunBackground(ctx context.Context) error {
	var grp run.Group
	for i := range g.cfg.Processing.Workers {
		wctx, cancel := context.WithCancel(ctx)
		grp.Add(func() error { g.worker(wctx, i); return nil }, func(error) { cancel() })
	}
	for range g.cfg.Reference.Prefetch {
		rctx, cancel := context.WithCancel(ctx)
		grp.Add(func() error { g.prefetcher(rctx); return nil }, func(error) { cancel() })
	}
	{
		octx, cancel := context.WithCancel(ctx)
		grp.Add(func() error { g.outbox(octx); return nil }, func(error) { cancel() })
	}
	{
		jctx, cancel := context.WithCancel(ctx)
		grp.Add(func() error { g.janitor(jctx); return nil }, func(error) { cancel() })
	}
	{
		ectx, cancel := context.WithCancel(ctx)
		grp.Add(func() error { g.expirer(ectx); return nil }, func(error) { cancel() })
	}
	{
		pctx, cancel := context.WithCancel(ctx)
		grp.Add(func() error { g.privacy(pctx); return nil }, func(error) { cancel() })
	}
	return grp.Run()
}

// janitor deletes expired tokens and replay-cache entries and drops full
// rate-limit buckets every few minutes.
func (g *Gateway) janitor(ctx context.Context) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.limits.sweep(g.now())
			n, err := g.store.DeleteExpiredTokens(ctx, g.now())
			if err != nil && ctx.Err() == nil {
				g.log.Warn("delete expired tokens", "err", err)
			} else if n > 0 {
				g.log.Debug("deleted expired tokens", "count", n)
			}
			g.purgeReplay(ctx)
		}
	}
}

// signal wakes one sleeper on ch without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
