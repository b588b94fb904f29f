// Package agent is the kiosk's device agent: it runs face verification
// sessions (capture → local checks → upload → status polling) and wires the
// camera, the analyzer, the gateway client, the status lights and progress
// reporting together.
//
// Concurrency: one goroutine (the session loop) owns the session state and
// feeds every event through session.Next; a thin executor performs the
// returned actions by handing work to three long-lived workers (camera,
// analyzer, uplink) that report back as events. Frames pass from the camera
// to the analyzer through a one-slot channel that drops the oldest frame
// (never blocking the camera). Timers come from the injected clock. All
// goroutines belong to a run group in Run and stop when its context ends.
//
// Its neighbours hold the rest of the daemon: agent/config (the
// configuration), agent/control (the launch request and the command table
// served on the loopback API and as MQTT commands, commands.go), agent/health
// (component health and metrics) and agent/host (systemd and sysfs).
//
// Use:
//
//	a, err := agent.New(cfg, agent.Deps{Source: src, Analyzer: an, Gateway: gw, Publisher: pub})
//	err = a.Run(ctx) // until ctx ends; serves the loopback API when cfg.API.Listen is set
package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/run"

	"github.com/faceverify/faceverify/agent/config"
	"github.com/faceverify/faceverify/agent/control"
	"github.com/faceverify/faceverify/agent/health"
	"github.com/faceverify/faceverify/agent/host"
	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/agent/session"
	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/clock"
	"github.com/faceverify/faceverify/uplink"
)

// DefaultLivenessModel is reported as device_liveness.model.
const DefaultLivenessModel = "fr_liveness.onnx"

// Deps are the agent's collaborators, each set once.
type Deps struct {
	Source    capture.Source       // required: the camera
	Analyzer  inference.Analyzer   // required: face analysis (liveness on)
	Gateway   uplink.Gateway       // required: the gateway's device API
	Publisher uplink.Publisher     // progress events; uplink.Discard if nil
	LEDs      led.LEDs             // status lights; the log driver if nil
	Service   host.ServiceNotifier // systemd readiness and watchdog (host.Systemd); none if nil
	Clock     clock.Clock          // time; the wall clock if nil
	Logger    *slog.Logger         // slog.Default() if nil
	// LivenessModel is reported with each submission (DefaultLivenessModel
	// if empty).
	LivenessModel string
	// NewSessionID makes session ids (random hex if nil).
	NewSessionID func() string
	// Spool stores uploads the gateway cannot take now and delivers them
	// later (uplink/spool.Spool); uploads go straight to Gateway if nil.
	// Run runs its delivery loop.
	Spool Spool
	// Health collects component health for /healthz (agent/health); a new
	// registry if nil.
	Health *health.Registry
}

// Agent runs verification sessions. Make one with New and call Run.
type Agent struct {
	cfg    config.Config
	policy session.Config
	d      Deps
	log    *slog.Logger

	cmds    chan command     // API/MQTT → loop
	results chan result      // workers → loop
	camReq  chan cameraJob   // loop → camera worker (1 slot, newest wins)
	anReq   chan analyzeJob  // loop → analyzer worker
	upReq   chan uplinkJob   // loop → uplink worker
	frames  chan taggedFrame // camera → analyzer (1 slot, drops oldest)

	view       atomic.Pointer[SessionView]
	ready      chan struct{}
	apiAddr    atomic.Value // string
	stopped    chan struct{}
	stopOnce   sync.Once
	dropFrames atomic.Uint64
	analyzed   atomic.Uint64
	tracks     roundTracker // faces confirmed in the current capture round
	uploads    atomic.Uint64
	timeline   timeline // marks of the current or last session (timeline.go)

	// Device wiring (spool_wiring.go, metrics_wiring.go, health_wiring.go).
	metrics     *health.Metrics
	health      *health.Registry
	clockFloor  time.Time
	queuedKeys  sync.Map     // idempotency key → session id, while spooled
	metricsAddr atomic.Value // string
	fleet       fleetState   // MQTT fleet interface: reloaded config, LED state, telemetry (fleet.go)
	cameraSince time.Time    // when an unsupervised camera's health was first known (camera_health.go)
	ui          uiState      // kiosk screens: theme, event streams, preview (ui.go)
}

// New checks cfg and deps and returns an Agent. cfg must have passed
// Validate (Load does it).
func New(cfg config.Config, d Deps) (*Agent, error) {
	switch {
	case d.Source == nil:
		return nil, errors.New("agent: Deps.Source is nil")
	case d.Analyzer == nil:
		return nil, errors.New("agent: Deps.Analyzer is nil")
	case d.Gateway == nil:
		return nil, errors.New("agent: Deps.Gateway is nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Publisher == nil {
		d.Publisher = uplink.Discard{}
	}
	if d.LEDs == nil {
		d.LEDs = led.NewLog(d.Logger)
	}
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.LivenessModel == "" {
		d.LivenessModel = DefaultLivenessModel
	}
	if d.NewSessionID == nil {
		d.NewSessionID = randomID
	}
	a := &Agent{
		cfg:     cfg,
		policy:  cfg.SessionPolicy(),
		d:       d,
		log:     d.Logger.With("component", "agent", "device_id", cfg.Device.ID),
		cmds:    make(chan command),
		results: make(chan result, 4),
		camReq:  make(chan cameraJob, 1),
		anReq:   make(chan analyzeJob, 1),
		upReq:   make(chan uplinkJob, 1),
		frames:  make(chan taggedFrame, 1),
		ready:   make(chan struct{}),
		stopped: make(chan struct{}),
	}
	a.initDevice()
	a.initCameraHealth() // camera_health.go
	return a, nil
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// SessionView is the public view of the current or last session, as the
// loopback API and MQTT replies show it: states and reasons, no scores.
type SessionView struct {
	SessionID     string     `json:"session_id"`
	CorrelationID string     `json:"correlation_id"`
	State         string     `json:"state"`            // capturing, uploading, queued (the upload waits in the offline spool), processing, verified, rejected, failed, cancelled
	Status        string     `json:"status,omitempty"` // final: VERIFIED, REJECTED, FAILED, CANCELLED
	Reason        string     `json:"reason,omitempty"`
	Attempt       int        `json:"attempt"`
	Uploads       int        `json:"uploads"`
	AttemptsLeft  *int       `json:"attempts_left,omitempty"` // from the gateway, once known
	StartedAt     time.Time  `json:"started_at"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
	ElapsedMS     int64      `json:"elapsed_ms"` // from start to now (running) or to the end
	// Guidance is the guidance code of the last analysed frame while
	// capturing (session.Guide*), Progress 0–100 toward the passing frames
	// that end a round.
	Guidance string `json:"guidance,omitempty"`
	Progress int    `json:"progress,omitempty"`
}

func viewOf(s session.State, now time.Time) *SessionView {
	v := &SessionView{
		SessionID: s.ID, CorrelationID: s.CorrelationID, State: string(s.Phase),
		Attempt: s.Round, Uploads: s.Uploads, StartedAt: s.Started,
	}
	if s.AttemptsLeft >= 0 {
		n := s.AttemptsLeft
		v.AttemptsLeft = &n
	}
	end := now
	if s.Phase == session.Uploading && s.Queued {
		v.State = session.StateQueued
	}
	if s.Phase == session.Capturing {
		v.Guidance, v.Progress = s.Guidance, s.Progress
	}
	if s.Phase == session.Done {
		v.State = session.FinalState(s.Outcome.Status)
		v.Status, v.Reason = s.Outcome.Status, s.Outcome.Reason
		f := s.Finished
		v.FinishedAt = &f
		end = f
	}
	v.ElapsedMS = end.Sub(s.Started).Milliseconds()
	return v
}

// Session returns the current or last session, or false if none ran yet.
// A running session's ElapsedMS is counted to the clock's now.
func (a *Agent) Session() (SessionView, bool) {
	v := a.view.Load()
	if v == nil {
		return SessionView{}, false
	}
	out := *v
	if out.FinishedAt == nil {
		out.ElapsedMS = max(out.ElapsedMS, a.d.Clock.Now().Sub(out.StartedAt).Milliseconds())
	}
	return out, true
}

// Ready is closed once Run has started and the API (if any) listens.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// APIAddr is the address the loopback API listens on ("" before Ready or
// when disabled).
func (a *Agent) APIAddr() string {
	s, _ := a.apiAddr.Load().(string)
	return s
}

// Launch starts a session for req after validating it (an expires_at
// already passed on the injected clock is refused too). Errors: a
// *RequestError naming the bad field, ErrBusy while a session runs,
// ErrStopped after Run ended, or ctx.Err().
func (a *Agent) Launch(ctx context.Context, req control.LaunchRequest) (SessionView, error) {
	if err := req.Validate(a.gatewayHosts()); err != nil {
		return SessionView{}, err
	}
	if err := req.CheckExpiry(a.d.Clock.Now()); err != nil {
		return SessionView{}, err
	}
	return a.send(ctx, command{kind: cmdLaunch, launch: req})
}

// Cancel stops the running session. Errors: ErrNoSession, ErrStopped or
// ctx.Err().
func (a *Agent) Cancel(ctx context.Context) (SessionView, error) {
	return a.send(ctx, command{kind: cmdCancel})
}

func (a *Agent) send(ctx context.Context, c command) (SessionView, error) {
	c.reply = make(chan commandResult, 1)
	select {
	case a.cmds <- c:
	case <-a.stopped:
		return SessionView{}, control.ErrStopped
	case <-ctx.Done():
		return SessionView{}, ctx.Err()
	}
	select {
	case r := <-c.reply:
		return r.view, r.err
	case <-ctx.Done():
		return SessionView{}, ctx.Err()
	}
}

type cmdKind int

const (
	cmdLaunch cmdKind = iota
	cmdCancel
)

type command struct {
	kind   cmdKind
	launch control.LaunchRequest
	reply  chan commandResult
}

type commandResult struct {
	view SessionView
	err  error
}

// result is a worker's report to the loop, for session sid.
type result struct {
	sid string
	ev  session.Event
}

type cameraJob struct {
	ctx context.Context
	sid string
	gen uint64
}

type analyzeJob struct {
	ctx       context.Context
	sid       string
	gen       uint64
	notBefore time.Time
}

type uplinkJob struct {
	ctx          context.Context
	sid          string
	base         string
	token        string
	tokenExpires time.Time       // zero: unknown
	upload       *session.Upload // nil: status poll (or warm)
	warm         bool            // open the connection to base (uplink.Warmer), nothing else
	wait         time.Duration   // status poll: the long-poll wait (0: plain)
	corr         string
	attempt      int
}

type taggedFrame struct {
	gen   uint64
	frame capture.Frame
}

// Run runs the agent until ctx ends: the session loop, the camera,
// analyzer and uplink workers and, when configured, the loopback API. A
// session running at shutdown is cancelled (reason SHUTDOWN) and reported.
// It returns nil after a clean stop, or the error that stopped it (e.g. the
// API address is in use).
func (a *Agent) Run(ctx context.Context) error {
	defer a.stopOnce.Do(func() { close(a.stopped) })
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var g run.Group
	actor := func(f func(context.Context) error) {
		g.Add(func() error { return f(ctx) }, func(error) { cancel() })
	}
	actor(a.loop)
	actor(a.cameraWorker)
	actor(a.analyzeWorker)
	actor(a.uplinkWorker)
	if run := a.cameraActor(); run != nil {
		actor(run) // camera supervision: absent/lost camera polling (camera_health.go)
	}
	if err := a.addDeviceActors(ctx, &g, cancel); err != nil { // spool, metrics (spool_wiring.go)
		return err
	}

	if a.cfg.API.Listen != "" {
		ln, err := net.Listen("tcp", a.cfg.API.Listen)
		if err != nil {
			return fmt.Errorf("api listen %s: %w", a.cfg.API.Listen, err)
		}
		a.apiAddr.Store(ln.Addr().String())
		srv := &http.Server{
			Handler:           a.Handler(),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      15 * time.Second,
			IdleTimeout:       60 * time.Second,
			ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		}
		g.Add(func() error {
			a.log.Info("api listening", "addr", ln.Addr().String())
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("api: %w", err)
			}
			return nil
		}, func(error) {
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer scancel()
			srv.Shutdown(sctx)
			cancel()
		})
	}
	close(a.ready)
	a.d.LEDs.Set(led.Idle)
	a.log.Info("agent running", "camera", a.d.Source.Name())
	a.notifyReady(ctx)
	err := g.Run()
	a.log.Info("agent stopped")
	return err
}

// loop is the session loop: the only goroutine that touches the session
// state, the timers and the current credentials.
func (a *Agent) loop(ctx context.Context) error {
	x := &executor{a: a, state: session.New(a.policy), timers: map[session.TimerKind]time.Time{}}
	for {
		var wake <-chan time.Time
		if at, ok := x.nextTimer(); ok {
			wake = a.d.Clock.After(at.Sub(a.d.Clock.Now()))
		}
		heartbeat := a.heartbeat() // watchdog ping; a stuck loop stops pinging
		select {
		case <-heartbeat:
		case <-ctx.Done():
			a.notifyStopping()
			if x.state.Active() {
				x.apply(session.Cancel{Reason: "SHUTDOWN"})
			}
			x.endSession()
			return nil
		case <-wake:
			x.fireTimers()
		case r := <-a.results:
			if r.sid == x.state.ID && x.state.Active() {
				x.apply(r.ev)
			}
		case c := <-a.cmds:
			c.reply <- x.command(ctx, c)
		}
	}
}

// executor performs session actions; it lives on the loop goroutine.
type executor struct {
	a      *Agent
	state  session.State
	timers map[session.TimerKind]time.Time

	token, baseURL string
	tokenExpires   time.Time // the launch's expires_at; zero when not given
	sessCtx        context.Context
	sessCancel     context.CancelFunc
	roundCancel    context.CancelFunc
	roundCtx       context.Context
	lastGuide      string // guidance code last published
}

func (x *executor) command(ctx context.Context, c command) commandResult {
	switch c.kind {
	case cmdLaunch:
		if x.state.Active() {
			return commandResult{err: control.ErrBusy}
		}
		x.token, x.baseURL, x.tokenExpires = c.launch.Token, c.launch.BaseURL, c.launch.TokenExpires
		x.lastGuide = ""
		x.a.ui.launched(c.launch) // theme and locale of the screens (ui.go)
		x.sessCtx, x.sessCancel = context.WithCancel(ctx)
		id := x.a.d.NewSessionID()
		x.a.timeline.begin(id, x.a.d.Clock.Now())
		x.a.log.Info("session start", "session_id", id, "correlation_id", c.launch.CorrelationID, "request_id", c.launch.RequestID)
		x.state.Config = x.a.sessionPolicy() // reload-config applies from the next session (fleet.go)
		x.apply(session.Start{ID: id, CorrelationID: c.launch.CorrelationID})
		// While the camera captures, open the connection the upload will
		// use (uplink.Warmer): the uplink worker is idle until the upload,
		// which then finds the connection in the pool. Not a session
		// action: it changes nothing the state machine decides.
		offer(x.a.upReq, uplinkJob{ctx: x.sessCtx, sid: id, base: x.baseURL, warm: true})
	case cmdCancel:
		if !x.state.Active() {
			return commandResult{err: control.ErrNoSession}
		}
		x.apply(session.Cancel{})
	}
	return commandResult{view: *x.a.view.Load()}
}

func (x *executor) nextTimer() (time.Time, bool) {
	var at time.Time
	ok := false
	for _, t := range x.timers {
		if !ok || t.Before(at) {
			at, ok = t, true
		}
	}
	return at, ok
}

// fireTimers delivers every due timer, earliest first.
func (x *executor) fireTimers() {
	for {
		now := x.a.d.Clock.Now()
		var kind session.TimerKind
		var at time.Time
		found := false
		for k, t := range x.timers {
			if !t.After(now) && (!found || t.Before(at)) {
				kind, at, found = k, t, true
			}
		}
		if !found {
			return
		}
		delete(x.timers, kind)
		x.apply(session.Timer{Kind: kind})
	}
}

func (x *executor) apply(ev session.Event) {
	now := x.a.d.Clock.Now()
	var acts []session.Action
	x.state, acts = session.Next(x.state, ev, now)
	for _, act := range acts {
		x.do(act, now)
	}
	if x.state.Phase != session.Idle {
		x.a.view.Store(viewOf(x.state, now))
		x.a.ui.changed() // wake the kiosk screens' event streams (ui.go)
	}
}

func (x *executor) do(act session.Action, now time.Time) {
	a := x.a
	s := x.state
	switch act := act.(type) {
	case session.OpenCamera:
		if x.roundCancel != nil {
			x.roundCancel()
		}
		x.roundCtx, x.roundCancel = context.WithCancel(x.sessCtx)
		a.timeline.mark(s.ID, PhaseCaptureStart, 0, now)
		offer(a.camReq, cameraJob{ctx: x.roundCtx, sid: s.ID, gen: act.Gen})
	case session.CloseCamera:
		if x.roundCancel != nil {
			x.roundCancel()
			x.roundCancel = nil
		}
	case session.AnalyzeFrame:
		if x.roundCtx != nil {
			offer(a.anReq, analyzeJob{ctx: x.roundCtx, sid: s.ID, gen: act.Gen, notBefore: act.NotBefore})
		}
	case session.Upload:
		u := act
		if u.Try == 1 {
			a.timeline.mark(s.ID, PhaseCaptureDone, 0, now)
		}
		offer(a.upReq, uplinkJob{ctx: x.sessCtx, sid: s.ID, base: x.baseURL, token: x.token, tokenExpires: x.tokenExpires, upload: &u, corr: s.CorrelationID, attempt: s.Round})
	case session.PollStatus:
		offer(a.upReq, uplinkJob{ctx: x.sessCtx, sid: s.ID, base: x.baseURL, token: x.token, wait: act.Wait, corr: s.CorrelationID})
	case session.SetTimer:
		x.timers[act.Kind] = act.At
	case session.CancelTimer:
		delete(x.timers, act.Kind)
	case session.SetLED:
		a.d.LEDs.Set(act.State)
		a.fleet.led.Store(act.State)
	case session.Publish:
		a.d.Publisher.Publish(uplink.Event{
			SessionID: s.ID, CorrelationID: s.CorrelationID,
			State: act.State, Reason: act.Reason, Attempt: act.Attempt, NextAction: act.NextAction, Time: now,
		})
		a.log.Debug("session state", "session_id", s.ID, "state", act.State, "attempt", act.Attempt)
	case session.Guide:
		if act.Code != x.lastGuide { // progress alone changes only the screens
			x.lastGuide = act.Code
			a.d.Publisher.Publish(uplink.Event{
				SessionID: s.ID, CorrelationID: s.CorrelationID, State: string(session.Capturing),
				Guidance: act.Code, Progress: act.Progress, Attempt: act.Attempt, Time: now,
			})
		}
	case session.Finish:
		a.timeline.mark(s.ID, PhaseExit, 0, now)
		a.log.Info("session finished", "session_id", s.ID, "correlation_id", s.CorrelationID,
			"status", act.Outcome.Status, "reason", act.Outcome.Reason, "attempts", s.Round,
			"uploads", s.Uploads, "elapsed_ms", now.Sub(s.Started).Milliseconds())
		a.sessionFinished(s, act.Outcome)
		x.endSession()
	}
}

// endSession forgets the credentials and stops the session's work.
func (x *executor) endSession() {
	x.token, x.baseURL, x.tokenExpires = "", "", time.Time{}
	if x.roundCancel != nil {
		x.roundCancel()
		x.roundCancel = nil
	}
	if x.sessCancel != nil {
		x.sessCancel()
	}
}

// offer puts v in the one-slot channel ch, replacing a value not yet taken.
// Only the loop goroutine sends on these channels.
func offer[T any](ch chan T, v T) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// report sends a worker's event to the loop unless the agent stops.
func (a *Agent) report(ctx context.Context, sid string, ev session.Event) {
	select {
	case a.results <- result{sid: sid, ev: ev}:
	case <-ctx.Done():
	}
}

// cameraWorker owns the capture.Source: it opens, reads and closes it.
func (a *Agent) cameraWorker(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case job := <-a.camReq:
			a.stream(ctx, job)
		}
	}
}

func (a *Agent) stream(ctx context.Context, job cameraJob) {
	if job.ctx.Err() != nil {
		return
	}
	src := a.d.Source
	if err := src.Open(job.ctx); err != nil {
		if job.ctx.Err() == nil {
			a.log.Error("camera open failed", "camera", src.Name(), "err", err)
			if errors.Is(err, capture.ErrNoDevice) { // absent or unplugged: CAMERA_LOST
				a.report(ctx, job.sid, session.CameraLost{Gen: job.gen, Err: err})
				return
			}
			a.report(ctx, job.sid, session.CameraFailed{Gen: job.gen, Err: err})
		}
		return
	}
	a.mark(job.sid, PhaseCameraOpen, 0)
	defer src.Close()
	defer a.ui.preview.clear() // the preview never outlives the capture round
	var last uint64
	for {
		f, err := src.Next(job.ctx)
		switch {
		case job.ctx.Err() != nil:
			return
		case errors.Is(err, capture.ErrClosed):
			a.report(ctx, job.sid, session.CameraEnded{Gen: job.gen, LastSeq: last})
			return
		case err != nil:
			a.log.Error("camera lost", "camera", src.Name(), "err", err)
			a.report(ctx, job.sid, session.CameraLost{Gen: job.gen, Err: err})
			return
		}
		if last == 0 {
			a.mark(job.sid, PhaseFirstFrame, f.Seq)
		}
		last = f.Seq
		a.metrics.Frame()
		a.ui.preview.put(f) // live preview for the kiosk screens (ui_preview.go)
		tf := taggedFrame{gen: job.gen, frame: f}
		select {
		case a.frames <- tf:
			continue
		default:
		}
		select { // drop the oldest frame, never block the camera
		case <-a.frames:
			a.dropFrames.Add(1)
		default:
		}
		select {
		case a.frames <- tf:
		default:
			a.dropFrames.Add(1)
		}
	}
}

// analyzeWorker analyses one frame per request, at the requested time.
func (a *Agent) analyzeWorker(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case job := <-a.anReq:
			a.analyzeOne(ctx, job)
		}
	}
}

func (a *Agent) analyzeOne(ctx context.Context, job analyzeJob) {
	if wait := job.notBefore.Sub(a.d.Clock.Now()); wait > 0 {
		select {
		case <-job.ctx.Done():
			return
		case <-a.d.Clock.After(wait):
		}
	}
	var tf taggedFrame
	for tf.gen != job.gen {
		select {
		case <-job.ctx.Done():
			return
		case tf = <-a.frames:
		}
	}
	began := a.d.Clock.Now()
	a.timeline.mark(job.sid, PhaseAnalysisStart, tf.frame.Seq, began)
	an, err := a.d.Analyzer.Analyze(job.ctx, tf.frame.Image, inference.Options{Liveness: true, Track: a.tracks.get(job.sid, job.gen)})
	ended := a.d.Clock.Now()
	took := ended.Sub(began)
	a.timeline.mark(job.sid, PhaseAnalysisEnd, tf.frame.Seq, ended)
	if job.ctx.Err() != nil {
		return
	}
	a.analyzed.Add(1)
	a.metrics.Analysis(an, err)
	if err != nil {
		a.log.Warn("analyze failed", "err", err)
	}
	a.report(ctx, job.sid, session.FrameAnalyzed{Gen: job.gen, Frame: tf.frame, Analysis: an, Err: err, Took: took})
}

// uplinkWorker performs submissions and status polls, one at a time.
func (a *Agent) uplinkWorker(ctx context.Context) error {
	var cacheKey string
	var cacheJPEG []byte
	var cacheExtras [][]byte
	for {
		var job uplinkJob
		select {
		case <-ctx.Done():
			return nil
		case job = <-a.upReq:
		}
		if job.ctx.Err() != nil {
			continue
		}
		log := a.log.With("session_id", job.sid, "correlation_id", job.corr)
		if job.warm {
			if w, ok := a.d.Gateway.(uplink.Warmer); ok {
				if err := w.Warm(job.ctx, job.base); err != nil {
					log.Debug("gateway connection not warmed", "err", err)
				} else {
					a.mark(job.sid, PhaseGatewayWarm, 0)
				}
			}
			continue
		}
		if job.upload == nil {
			a.mark(job.sid, PhaseStatusSent, 0)
			resp, err := a.status(job)
			a.mark(job.sid, PhaseStatusAnswered, 0)
			if err != nil {
				log.Warn("status poll failed", "err", err)
				a.report(ctx, job.sid, session.StatusFailed{Class: uplink.Classify(err), Err: err})
				continue
			}
			log.Debug("status", "status", resp.Status, "next_action", resp.NextAction, "reason", resp.Reason, "retry_after_ms", resp.RetryAfterMS)
			a.report(ctx, job.sid, session.StatusResult{Response: resp})
			continue
		}
		u := job.upload
		if u.Key != cacheKey {
			selfie, extras, err := a.uploadCrops(u) // extras.go
			if err != nil {
				log.Error("crop failed", "err", err)
				a.report(ctx, job.sid, session.UploadFailed{Class: uplink.ClassPermanent, Err: err})
				continue
			}
			cacheKey, cacheJPEG, cacheExtras = u.Key, selfie, extras
		}
		req := api.SubmissionRequest{
			Selfie:         cacheJPEG,
			SelfieExtra:    cacheExtras,
			DeviceLiveness: a.deviceLiveness(u),
			DeviceID:       a.cfg.Device.ID,
			IdempotencyKey: u.Key,
			CapturedAt:     u.Candidate.Frame.At.UTC(),
		}
		a.mark(job.sid, PhaseUploadSent, 0)
		resp, queued, err := a.submit(ctx, job, req)
		a.mark(job.sid, PhaseUploadAcked, 0)
		if queued {
			continue
		}
		if err != nil {
			log.Warn("upload failed", "try", u.Try, "err", err)
			a.report(ctx, job.sid, session.UploadFailed{Class: uplink.Classify(err), Err: err})
			continue
		}
		a.uploads.Add(1)
		log.Info("uploaded", "attempt", resp.Attempt, "try", u.Try, "bytes", len(cacheJPEG), "duplicate", resp.Duplicate)
		a.report(ctx, job.sid, session.UploadDone{Response: resp})
	}
}

// status makes one status call: a long poll of job.wait when the gateway
// client can (uplink.StatusWaiter), else a plain poll.
func (a *Agent) status(job uplinkJob) (api.StatusResponse, error) {
	if w, ok := a.d.Gateway.(uplink.StatusWaiter); ok && job.wait > 0 {
		return w.StatusWait(job.ctx, job.base, job.token, job.wait)
	}
	return a.d.Gateway.Status(job.ctx, job.base, job.token)
}

// Stats are the agent's counters, shown by /healthz.
type Stats struct {
	FramesDropped  uint64 `json:"frames_dropped"` // frames replaced before analysis
	FramesAnalyzed uint64 `json:"frames_analyzed"`
	Uploads        uint64 `json:"uploads"`
}

// Stats returns the counters.
func (a *Agent) Stats() Stats {
	return Stats{FramesDropped: a.dropFrames.Load(), FramesAnalyzed: a.analyzed.Load(), Uploads: a.uploads.Load()}
}
