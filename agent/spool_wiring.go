package agent

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/oklog/run"

	"github.com/faceverify/faceverify/agent/health"
	"github.com/faceverify/faceverify/agent/session"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/uplink"
	"github.com/faceverify/faceverify/uplink/spool"
)

// Spool is the offline spool as the agent drives it (uplink/spool.Spool):
// it takes submissions the gateway cannot take now, delivers them from
// Run and reports each outcome on Deliveries.
type Spool interface {
	uplink.Submitter
	// Run delivers stored submissions until ctx ends.
	Run(ctx context.Context) error
	// Deliveries reports the outcome of each delivered submission.
	Deliveries() <-chan spool.Delivery
	// Discard deletes the stored submission with idempotency key key,
	// reporting whether there was one.
	Discard(key string) bool
	// Stats are the spool's counters and fill.
	Stats() spool.Stats
}

// initDevice sets up health probes and metrics; New calls it.
func (a *Agent) initDevice() {
	if a.d.Health == nil {
		a.d.Health = health.NewRegistry()
	}
	a.health = a.d.Health
	a.clockFloor = a.cfg.ClockFloor()
	a.health.Probe("clock", func() (bool, string) {
		return !a.d.Clock.Now().Before(a.clockFloor), "clock_unsynced"
	})
	if sp := a.d.Spool; sp != nil {
		a.health.Probe("spool", func() (bool, string) { return !sp.Stats().Full, "spool_full" })
	}
	if c, ok := a.d.Publisher.(interface{ Connected() bool }); ok {
		a.health.Probe("mqtt", mqttHealthProbe(c))
	}
	src := health.Sources{
		Now:           a.d.Clock.Now,
		FramesDropped: a.dropFrames.Load,
		Analyzed:      a.analyzed.Load,
		Health:        a.health,
	}
	if a.d.Spool != nil {
		src.Spool = a.d.Spool
	}
	a.metrics = health.NewMetrics(src)
}

// Health returns the registry behind /healthz, for components that report
// their state (camera, GPIO).
func (a *Agent) Health() *health.Registry { return a.health }

// submitter is the spool when there is one, else the gateway client.
func (a *Agent) submitter() uplink.Submitter {
	if a.d.Spool != nil {
		return a.d.Spool
	}
	return a.d.Gateway
}

// submit sends one submission try with the flow's correlation id and
// token expiry (for the device signature and the spool record) and counts
// it. A
// submission the spool stored is reported to the session as UploadQueued
// (queued=true); the spool's final outcome follows as UploadDone or
// UploadFailed through forwardDeliveries. The key → session mapping is
// registered by the spool (SubmitInfo.OnQueued) before the record can be
// delivered, since its outcome may come before Submit returns.
func (a *Agent) submit(ctx context.Context, job uplinkJob, req api.SubmissionRequest) (resp api.SubmissionResponse, queued bool, err error) {
	resp, err = a.submitter().Submit(job.ctx, job.base, job.token, req, uplink.SubmitInfo{
		CorrelationID: job.corr,
		TokenExpires:  job.tokenExpires,
		OnQueued:      func(key string) { a.queuedKeys.Store(key, job.sid) },
	})
	a.metrics.Upload(job.upload.Try, err)
	var qe *spool.QueuedError
	if !errors.As(err, &qe) {
		return resp, false, err
	}
	a.log.Warn("upload queued in the offline spool", "session_id", job.sid, "correlation_id", job.corr, "reason", qe.Reason, "err", qe.Cause)
	a.report(ctx, job.sid, session.UploadQueued{Key: qe.Key, Reason: qe.Reason})
	return resp, true, nil
}

// addDeviceActors adds the spool's delivery loop, the forwarding of its
// outcomes to the session and the metrics listener to g.
func (a *Agent) addDeviceActors(ctx context.Context, g *run.Group, cancel context.CancelFunc) error {
	if sp := a.d.Spool; sp != nil {
		sctx, scancel := context.WithCancel(ctx)
		g.Add(func() error { return sp.Run(sctx) }, func(error) { scancel(); cancel() })
		g.Add(func() error { a.forwardDeliveries(sctx, sp); return nil }, func(error) { scancel(); cancel() })
	}
	ln, srv, err := a.listenMetrics()
	if err != nil || ln == nil {
		return err
	}
	g.Add(func() error {
		a.log.Info("metrics listening", "addr", ln.Addr().String())
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, func(error) {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
		cancel()
	})
	return nil
}

// forwardDeliveries turns the spool's outcomes into session events for the
// session that queued them (outcomes of earlier sessions or of a previous
// run are only counted).
func (a *Agent) forwardDeliveries(ctx context.Context, sp Spool) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-sp.Deliveries():
			a.routeDelivery(ctx, d)
		}
	}
}

// routeDelivery reports a spool outcome to the session that queued its
// key, and reports whether there was one.
func (a *Agent) routeDelivery(ctx context.Context, d spool.Delivery) bool {
	sid, ok := a.queuedKeys.LoadAndDelete(d.Key)
	if ok {
		a.report(ctx, sid.(string), uplinkOutcome(d))
	}
	return ok
}

// sessionFinished counts a finished session and drops its spooled upload
// when the user cancelled it (a shutdown keeps it: it is delivered after
// the restart).
func (a *Agent) sessionFinished(s session.State, o session.Outcome) {
	a.metrics.Session(o)
	if a.d.Spool != nil && s.Queued && o.Status == session.StatusCancelled && o.Reason == session.ReasonCancelled {
		if a.d.Spool.Discard(s.UploadKey) {
			a.queuedKeys.Delete(s.UploadKey)
			a.log.Info("spooled upload discarded: session cancelled", "session_id", s.ID)
		}
	}
}
