package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
)

// expiryBatch is how many flows one store query returns to ExpireFlows.
const expiryBatch = 100

// newCallback builds the callback announcing that flow f closed with status
// and reason at `at`: a fresh delivery id (kept for every retry, as the
// body is stored and re-sent as is), the event and the JSON api.Callback.
func newCallback(f Flow, event, status, reason string, at time.Time) NewCallback {
	id := NewDeliveryID()
	body, _ := json.Marshal(api.Callback{
		DeliveryID:    id,
		Event:         event,
		PartnerID:     f.PartnerID,
		CorrelationID: f.CorrelationID,
		PartnerUserID: f.PartnerUserID,
		Status:        status,
		Reason:        reason,
		CompletedAt:   at,
	})
	return NewCallback{DeliveryID: id, Event: event, Body: body}
}

// ExpireFlows closes as api.StatusExpired every open flow whose latest user
// token expired at or before the gateway's clock (Deps.Now) and that has no
// submission waiting or in processing, and queues an api.EventFlowExpired
// callback for each one whose partner has a callback URL. It returns how
// many flows this call closed. Every replica may run it at the same time:
// Store.ExpireFlow's conditional update closes each flow, and queues its
// callback, once. The background expirer calls it every
// Config.Processing.ExpiryInterval.
func (g *Gateway) ExpireFlows(ctx context.Context) (int, error) {
	total := 0
	defer func() {
		if total > 0 {
			signal(g.wakeCallback)
		}
	}()
	for {
		now := g.now().UTC()
		flows, err := g.store.FlowsToExpire(ctx, now, expiryBatch)
		if err != nil {
			return total, fmt.Errorf("list flows to expire: %w", err)
		}
		closed := 0
		for _, f := range flows {
			var cb *NewCallback
			if p, ok := g.cfg.partner(f.PartnerID); ok && p.CallbackURL != "" {
				c := newCallback(f, api.EventFlowExpired, api.StatusExpired, "", now)
				cb = &c
			}
			ok, err := g.store.ExpireFlow(ctx, f.ID, now, cb)
			if err != nil {
				return total, fmt.Errorf("expire flow %s: %w", f.ID, err)
			}
			if !ok {
				continue // decided, re-opened by a new token, or expired by another replica
			}
			closed++
			g.waits.changed(f.ID)
			g.metrics.expired.Inc()
			g.log.Info("flow expired", "flow_id", f.ID, "client_id", f.PartnerID, "correlation_id", f.CorrelationID,
				"expires_at", f.ExpiresAt, "callback", cb != nil)
		}
		total += closed
		if len(flows) < expiryBatch || closed == 0 {
			return total, nil
		}
	}
}

// expirer runs ExpireFlows every Config.Processing.ExpiryInterval until ctx
// is cancelled.
func (g *Gateway) expirer(ctx context.Context) {
	t := time.NewTicker(g.cfg.Processing.ExpiryInterval)
	defer t.Stop()
	for {
		if _, err := g.ExpireFlows(ctx); err != nil && ctx.Err() == nil {
			g.log.Warn("expire flows", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
