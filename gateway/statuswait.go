package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faceverify/faceverify/gateway/api"
)

// statusWaits is the status long-poll of one replica: the waiting requests
// by flow, woken at once by decisions this replica records (changed) and
// re-reading the database every status.recheck for decisions of other
// replicas. stop answers every waiter (graceful shutdown).
type statusWaits struct {
	mu      sync.Mutex
	flows   map[string]*flowWatch
	waiting int
	max     int
	perFlow map[string]int // waiting requests by flow, at most MaxWaitsPerFlow

	stopOnce sync.Once
	stopping chan struct{}

	waiters prometheus.Gauge
	refused prometheus.Counter
	answers *prometheus.CounterVec // why a wait ended: changed, timeout, shutdown
}

// flowWatch is one flow's wake-up: ch is closed when the flow changes;
// n counts the requests holding it.
type flowWatch struct {
	ch chan struct{}
	n  int
}

func newStatusWaits(max int, reg prometheus.Registerer) *statusWaits {
	w := &statusWaits{
		flows:    map[string]*flowWatch{},
		perFlow:  map[string]int{},
		max:      max,
		stopping: make(chan struct{}),
		waiters: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metricsNamespace, Name: "status_waiters",
			Help: "Status requests waiting for their flow to change (long poll).",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "status_waits_refused_total",
			Help: "Status long polls refused: with 503 because status.max_waiters were waiting, or with 429 because MaxWaitsPerFlow of the same flow were.",
		}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "status_waits_total",
			Help: "Status long polls by how they ended: changed, timeout, shutdown, gone (the client left).",
		}, []string{"end"}),
	}
	reg.MustRegister(w.waiters, w.refused, w.answers)
	return w
}

// MaxWaitsPerFlow is how many status long polls of one flow (one user
// token) may wait at once on a replica. A kiosk holds one at a time (two
// while a dropped connection is not yet noticed); without the bound one
// token could take all status.max_waiters slots and turn every other
// kiosk's long poll into 503 server_busy.
const MaxWaitsPerFlow = 4

// enterResult is why enter refused a waiting slot.
type enterResult int

const (
	entered     enterResult = iota
	replicaFull             // status.max_waiters are waiting
	flowFull                // MaxWaitsPerFlow of this flow are waiting
)

// enter takes a waiting slot for a request of flowID.
func (w *statusWaits) enter(flowID string) enterResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.perFlow[flowID] >= MaxWaitsPerFlow {
		return flowFull
	}
	if w.waiting >= w.max {
		return replicaFull
	}
	w.waiting++
	w.perFlow[flowID]++
	w.waiters.Inc()
	return entered
}

func (w *statusWaits) leave(flowID string) {
	w.mu.Lock()
	w.waiting--
	if w.perFlow[flowID]--; w.perFlow[flowID] <= 0 {
		delete(w.perFlow, flowID)
	}
	w.mu.Unlock()
	w.waiters.Dec()
}

// watch returns a channel closed at the next change of flowID; the caller
// must unwatch it.
func (w *statusWaits) watch(flowID string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	fw := w.flows[flowID]
	if fw == nil {
		fw = &flowWatch{ch: make(chan struct{})}
		w.flows[flowID] = fw
	}
	fw.n++
	return fw.ch
}

func (w *statusWaits) unwatch(flowID string, ch <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if fw := w.flows[flowID]; fw != nil && fw.ch == ch {
		if fw.n--; fw.n == 0 {
			delete(w.flows, flowID)
		}
	}
}

// changed wakes the requests waiting on flowID.
func (w *statusWaits) changed(flowID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if fw := w.flows[flowID]; fw != nil {
		close(fw.ch)
		delete(w.flows, flowID)
	}
}

// stop answers every waiting request now and every later one at once.
func (w *statusWaits) stop() { w.stopOnce.Do(func() { close(w.stopping) }) }

// parseWait reads the ?wait parameter: a Go duration ("20s", "1500ms"),
// shortened to status.max_wait; 0 when absent. Malformed or negative is a
// 400 naming the parameter.
func (g *Gateway) parseWait(r *http.Request) (time.Duration, error) {
	q := r.URL.Query()
	if !q.Has(api.ParamWait) {
		return 0, nil
	}
	s := q.Get(api.ParamWait)
	d, err := time.ParseDuration(s)
	if err != nil {
		// A bare number is the easy mistake: say which unit is missing.
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return 0, badRequest("%s: must be a duration with a unit, e.g. \"20s\" or \"1500ms\", got %q", api.ParamWait, truncate(s, 32))
		}
		return 0, badRequest("%s: must be a duration such as \"20s\" or \"1500ms\", got %q", api.ParamWait, truncate(s, 32))
	}
	if d < 0 {
		return 0, badRequest("%s: must be ≥ 0s, got %v", api.ParamWait, d)
	}
	return min(d, g.cfg.Status.MaxWait), nil
}

// flowStatus reads the device's status of a flow; a flow that is gone
// (erased meanwhile) is answered like its token.
func (g *Gateway) flowStatus(ctx context.Context, flowID string) (api.StatusResponse, error) {
	flow, subs, err := g.flowWithAttempts(ctx, flowID)
	if errors.Is(err, ErrNotFound) {
		return api.StatusResponse{}, &httpError{http.StatusUnauthorized, api.CodeInvalidToken, "invalid or expired user token"}
	}
	if err != nil {
		return api.StatusResponse{}, err
	}
	return deriveStatus(flow, subs, g.cfg.Verification.MaxAttempts, g.cfg.Verification.RetryAfterMS), nil
}

// waitStatus holds a status request whose answer st is ActionStatus until
// the flow's answer changes (woken by this replica's decision or seen by a
// database re-check every status.recheck), wait passes (st with Waited), the
// gateway shuts down (the current answer, without Waited: poll again after
// retry_after_ms, maybe on another replica) or the client leaves. More than
// status.max_waiters waiting at once: 503 server_busy, Retry-After 1; more
// than MaxWaitsPerFlow of the same flow: 429 rate_limited, Retry-After 1.
func (g *Gateway) waitStatus(ctx context.Context, flowID string, st api.StatusResponse, wait time.Duration) (api.StatusResponse, error) {
	w := g.waits
	select {
	case <-w.stopping:
		return st, nil
	default:
	}
	switch w.enter(flowID) {
	case replicaFull:
		w.refused.Inc()
		return st, &retryAfterError{&httpError{http.StatusServiceUnavailable, api.CodeServerBusy,
			fmt.Sprintf("%d status requests are waiting already; poll again after Retry-After, or without %s", w.max, api.ParamWait)}, "1"}
	case flowFull:
		w.refused.Inc()
		return st, &retryAfterError{&httpError{http.StatusTooManyRequests, api.CodeRateLimited,
			fmt.Sprintf("%d status requests of this flow are waiting already; poll again after Retry-After", MaxWaitsPerFlow)}, "1"}
	}
	defer w.leave(flowID)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	recheck := time.NewTicker(g.cfg.Status.Recheck)
	defer recheck.Stop()
	for {
		// Watch before reading, so a decision recorded between the read
		// and the select still wakes this request.
		ch := w.watch(flowID)
		cur, err := g.flowStatus(ctx, flowID)
		if err != nil || cur.NextAction != api.ActionStatus {
			w.unwatch(flowID, ch)
			if err == nil {
				w.answers.WithLabelValues("changed").Inc()
			}
			return cur, err
		}
		select {
		case <-ch:
		case <-recheck.C:
		case <-deadline.C:
			w.unwatch(flowID, ch)
			w.answers.WithLabelValues("timeout").Inc()
			cur.Waited = true
			return cur, nil
		case <-w.stopping:
			w.unwatch(flowID, ch)
			w.answers.WithLabelValues("shutdown").Inc()
			return cur, nil
		case <-ctx.Done():
			w.unwatch(flowID, ch)
			w.answers.WithLabelValues("gone").Inc()
			return cur, nil
		}
		w.unwatch(flowID, ch)
	}
}
