package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/faceverify/faceverify/gateway/api"
)

// checkReference serves reference_check on flow initiation: with
// req.ReferenceCheck it returns the profile of the user's reference, or
// an *httpError:
//
//	reference refused by the partner's API, not an image, too large,
//	no single usable face                        422 reference_unusable
//	reference API unreachable after the retries,
//	or no answer within reference.check_deadline 502 reference_unavailable
//	reference.max_checks of this partner running 503 server_busy, Retry-After 1
//	decode budget or analyzer failure            503 server_busy
//
// The partner's reference API is called at most once per flow. A
// correlation id naming an open flow of the same user and kind reuses the
// reference kept for it (by an earlier check, the prefetch or a worker)
// or joins the load under way; checks of one correlation id that overlap
// share one load, and the result stays shared until the last of those
// requests has finished its initiation (so the flow it creates holds the
// kept reference before a later check looks). Only a transient failure,
// which is not kept, lets a later check fetch again. A correlation id
// naming a final flow or another user's fetches nothing and returns nil:
// CreateFlow then answers 409.
//
// The caller must call done once the initiation is over (whatever the
// result). The message of a 422 or 502 is the partner-safe reason (the
// Detail that SubmissionDetails would show). Without reference_check it
// returns nil, a no-op done and nil.
func (g *Gateway) checkReference(ctx context.Context, p PartnerConfig, req api.InitiateRequest) (prof *refProfile, done func(), err error) {
	if !req.ReferenceCheck {
		return nil, func() {}, nil
	}
	flow := Flow{PartnerID: p.ClientID, CorrelationID: req.CorrelationID, PartnerUserID: req.PartnerUserID,
		PartnerUserIDType: req.PartnerUserIDType, Kind: req.Flow}
	j, leader, done := g.checks.join(checkKey(flow))
	if leader {
		go g.runCheck(context.WithoutCancel(ctx), j, flow, p)
	} else {
		g.refs.results.WithLabelValues("check_shared").Inc()
	}
	cctx, cancel := context.WithTimeout(ctx, g.cfg.Reference.CheckDeadline)
	defer cancel()
	timedOut := false
	select {
	case <-j.done:
		err, timedOut = j.err, j.timedOut
	case <-cctx.Done():
		err, timedOut = cctx.Err(), true
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, done, err
	case errors.Is(err, errChecksBusy):
		g.refs.results.WithLabelValues("check_busy").Inc()
		g.log.Warn("reference checks busy", "correlation_id", req.CorrelationID, "client_id", p.ClientID, "max_checks", g.cfg.Reference.MaxChecks)
		return nil, done, &retryAfterError{&httpError{http.StatusServiceUnavailable, api.CodeServerBusy,
			fmt.Sprintf("%d reference checks of this partner are running; retry after Retry-After", g.cfg.Reference.MaxChecks)}, "1"}
	case err != nil && timedOut:
		return nil, done, &httpError{http.StatusBadGateway, api.CodeReferenceUnavailable,
			fmt.Sprintf("the reference check did not finish within %s", g.cfg.Reference.CheckDeadline)}
	case errors.Is(err, errReferenceRuntime):
		g.log.Warn("reference check failed", "correlation_id", req.CorrelationID, "client_id", p.ClientID, "err", err)
		return nil, done, &httpError{http.StatusServiceUnavailable, api.CodeServerBusy, "the reference could not be analysed now; try again"}
	case err != nil:
		return nil, done, &httpError{http.StatusBadGateway, api.CodeReferenceUnavailable, referenceDetail(err)}
	case j.skip:
		return nil, done, nil
	case j.prof.Unusable:
		g.refs.results.WithLabelValues("check_unusable").Inc()
		return nil, done, &httpError{http.StatusUnprocessableEntity, api.CodeReferenceUnusable, j.prof.Detail}
	}
	p2 := j.prof
	return &p2, done, nil
}

// runCheck does job j's load for flow (not created yet: only its partner,
// correlation id, user and kind are set) within reference.check_deadline
// and one of the partner's check slots, then closes j.done. ctx carries no
// cancellation of the request that started it: the requests that joined
// still wait for the result.
func (g *Gateway) runCheck(ctx context.Context, j *checkJob, flow Flow, p PartnerConfig) {
	defer close(j.done)
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Reference.CheckDeadline)
	defer cancel()
	defer func() { j.timedOut = j.err != nil && ctx.Err() != nil }()
	existing, err := g.store.FlowByCorrelation(ctx, p.ClientID, flow.CorrelationID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		j.err = fmt.Errorf("%w: look up flow: %w", errReferenceRuntime, err)
		return
	case existing.Final() || !sameUserAndKind(existing, flow):
		j.skip = true // CreateFlow refuses it (flow_final, correlation_conflict)
		return
	default:
		flow = existing
	}
	release, err := g.checks.acquire(p.ClientID)
	if err != nil {
		j.err = err
		return
	}
	defer release()
	if flow.ID != "" {
		j.prof, j.err = g.referenceFor(ctx, flow, p, false) // kept, joined, or loaded and kept
		return
	}
	j.prof, j.err = g.loadReference(ctx, flow, p)
}

// sameUserAndKind reports whether stored flow f is the one req would
// open: CreateFlow's rule for reusing a correlation id.
func sameUserAndKind(f, req Flow) bool {
	return f.PartnerUserID == req.PartnerUserID && f.PartnerUserIDType == req.PartnerUserIDType && f.Kind == req.Kind
}

// checkKey identifies the flow a reference check is for.
func checkKey(f Flow) string {
	return f.PartnerID + "\x00" + f.CorrelationID + "\x00" + f.PartnerUserID + "\x00" + f.PartnerUserIDType + "\x00" + f.Kind
}

// errChecksBusy: every reference check slot of the partner is taken.
var errChecksBusy = errors.New("reference checks of this partner all busy")

// refChecks bounds and shares the reference checks of a replica: at most
// max loads in flight per partner, and one job per flow key while
// requests for it are being answered.
type refChecks struct {
	max int64

	mu    sync.Mutex
	jobs  map[string]*checkJob           // by checkKey
	slots map[string]*semaphore.Weighted // by client id (configured partners only)
}

// checkJob is one reference check shared by the requests that hold it;
// prof, err and skip are set before done is closed.
type checkJob struct {
	done     chan struct{}
	prof     refProfile
	err      error
	skip     bool // the correlation id names a final flow or another user's
	timedOut bool // err came from reference.check_deadline running out
	holders  int  // requests holding it (guarded by refChecks.mu)
}

func newRefChecks(max int) *refChecks {
	return &refChecks{max: int64(max), jobs: map[string]*checkJob{}, slots: map[string]*semaphore.Weighted{}}
}

// join returns the job for key, creating it (leader true: the caller
// starts its load) when none is held. done releases the caller's hold;
// the job is forgotten when the last hold is released.
func (c *refChecks) join(key string) (j *checkJob, leader bool, done func()) {
	c.mu.Lock()
	j = c.jobs[key]
	if j == nil {
		j = &checkJob{done: make(chan struct{})}
		c.jobs[key] = j
		leader = true
	}
	j.holders++
	c.mu.Unlock()
	var once sync.Once
	return j, leader, func() {
		once.Do(func() {
			c.mu.Lock()
			if j.holders--; j.holders == 0 && c.jobs[key] == j {
				delete(c.jobs, key)
			}
			c.mu.Unlock()
		})
	}
}

// acquire takes one of clientID's check slots, or returns errChecksBusy
// at once when all are taken (the partner is told to come back rather
// than held in a queue); release gives it back.
func (c *refChecks) acquire(clientID string) (release func(), err error) {
	c.mu.Lock()
	s := c.slots[clientID]
	if s == nil {
		s = semaphore.NewWeighted(c.max)
		c.slots[clientID] = s
	}
	c.mu.Unlock()
	if !s.TryAcquire(1) {
		return nil, errChecksBusy
	}
	return func() { s.Release(1) }, nil
}
