package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
)

// outbox delivers queued completion callbacks until ctx is cancelled. Each
// job is leased while it is being delivered, so a restart (or another
// replica) picks up jobs whose delivery was interrupted.
func (g *Gateway) outbox(ctx context.Context) {
	log := g.log.With("stage", "callback")
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-g.wakeCallback:
		}
		for ctx.Err() == nil {
			now := g.now()
			job, err := g.store.ClaimCallback(ctx, now, now.Add(g.cfg.Callback.Timeout+30*time.Second))
			if errors.Is(err, ErrNotFound) {
				break
			}
			if err != nil {
				if ctx.Err() == nil {
					log.Error("claim callback", "err", err)
				}
				break
			}
			g.deliver(ctx, log, job)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		// Short enough to honour small backoffs, cheap when idle.
		timer.Reset(min(g.cfg.Processing.PollInterval, g.cfg.Callback.InitialBackoff))
	}
}

// callbackBackoff is the wait after the n-th failed delivery (n ≥ 1):
// initial·2^(n−1), capped at max.
func callbackBackoff(n int, initial, max time.Duration) time.Duration {
	d := initial
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// deliver POSTs one callback, signed with its partner's key, and records
// the outcome.
func (g *Gateway) deliver(ctx context.Context, log *slog.Logger, job CallbackJob) {
	p, ok := g.cfg.partner(job.PartnerID)
	var key api.CallbackKey
	if ok {
		key, ok = g.cfg.callbackKey(p)
	}
	var err error
	if !ok || p.CallbackURL == "" {
		ok = false
		err = fmt.Errorf("partner %q has no callback_url or callback key", job.PartnerID)
	} else {
		err = g.post(ctx, g.partnerClient(p.ClientID), p.CallbackURL, key, job)
	}
	store := context.WithoutCancel(ctx)
	if err == nil {
		g.metrics.callbacks.WithLabelValues("delivered").Inc()
		if err := g.store.CallbackDelivered(store, job.ID, g.now().UTC()); err != nil {
			log.Warn("mark callback delivered", "callback_id", job.ID, "err", err)
		}
		log.Info("callback delivered", "callback_id", job.ID, "delivery_id", job.DeliveryID, "event", job.Event,
			"client_id", job.PartnerID, "attempt", job.Attempts+1, "kid", key.ID)
		return
	}
	if ctx.Err() != nil {
		// Stopping mid-delivery: hand the callback back, due now, so a
		// restart or another replica sends it at once rather than after
		// its lease. The partner may have received it: the same delivery
		// id comes again (at least once).
		if err := g.store.CallbackFailed(store, job.ID, g.now(), "delivery interrupted: gateway stopping", false); err != nil {
			log.Warn("hand back interrupted callback", "callback_id", job.ID, "err", err)
		}
		return
	}
	attempts := job.Attempts + 1
	giveUp := attempts >= g.cfg.Callback.MaxAttempts || !ok
	next := g.now().Add(callbackBackoff(attempts, g.cfg.Callback.InitialBackoff, g.cfg.Callback.MaxBackoff))
	if giveUp {
		g.metrics.callbacks.WithLabelValues("given_up").Inc()
	} else {
		g.metrics.callbacks.WithLabelValues("failed").Inc()
	}
	log.Warn("callback delivery failed", "callback_id", job.ID, "delivery_id", job.DeliveryID, "event", job.Event,
		"client_id", job.PartnerID, "attempt", attempts, "give_up", giveUp, "err", err)
	if err := g.store.CallbackFailed(store, job.ID, next, err.Error(), giveUp); err != nil {
		log.Warn("record callback failure", "callback_id", job.ID, "err", err)
	}
}

// post sends a callback body signed with key (api.SignatureHeader, naming
// key.ID), with its delivery id and event headers, through client; any
// 2xx is success.
func (g *Gateway) post(ctx context.Context, client *http.Client, target string, key api.CallbackKey, job CallbackJob) error {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Callback.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(job.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.SignatureHeader, api.SignCallback(key, g.now(), job.Body))
	req.Header.Set(api.DeliveryHeader, job.DeliveryID)
	req.Header.Set(api.EventHeader, job.Event)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("POST callback: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST callback: partner answered %s", resp.Status)
	}
	return nil
}
