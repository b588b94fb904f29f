package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
)

// LockoutConfig locks a partner user out of new verifications after
// Failures failed attempts within Window ([limits.lockout], overridable
// per partner in [partners.lockout]). A failed attempt is one decided
// FACE_MISMATCH, LIVENESS_FAILED, REFERENCE_REPLAY or SUBMISSION_REPLAY:
// every attempt, not every flow, because each attempt is one more probe of
// the matcher and the liveness check (an impostor's flow may hold three).
// Quality refusals (NO_FACE, LOW_QUALITY, …) and REFERENCE_UNAVAILABLE do
// not count. The count is read from the database, so every replica agrees.
type LockoutConfig struct {
	Failures int           `toml:"failures"`
	Window   time.Duration `toml:"window"`
}

// defaultLockout: 5 failed attempts in 15 minutes (the user-token
// lifetime), the usual bank policy for a second factor.
var defaultLockout = LockoutConfig{Failures: 5, Window: 15 * time.Minute}

// lockoutReasons are the attempt reasons that count as failures.
var lockoutReasons = []string{api.ReasonFaceMismatch, api.ReasonLivenessFailed, api.ReasonReferenceReplay, api.ReasonSubmissionReplay}

// validate checks a lockout table; in a partner's table (inherit) zero
// values mean "as [limits.lockout]".
func (c LockoutConfig) validate(table string, inherit bool) error {
	if !(inherit && c.Failures == 0) && (c.Failures < 1 || c.Failures > 100) {
		return errField(table+".failures", "must be in [1,100], got %d", c.Failures)
	}
	if !(inherit && c.Window == 0) && (c.Window < time.Minute || c.Window > 7*24*time.Hour) {
		return errField(table+".window", "must be in [1m,168h], got %v", c.Window)
	}
	return nil
}

// lockoutFor is the lockout policy of a partner.
func (c *Config) lockoutFor(partnerID string) LockoutConfig {
	l := c.Limits.Lockout
	if p, ok := c.partner(partnerID); ok {
		if p.Lockout.Failures != 0 {
			l.Failures = p.Lockout.Failures
		}
		if p.Lockout.Window != 0 {
			l.Window = p.Lockout.Window
		}
	}
	return l
}

// UserKey names one partner user: the lockout counts failures per key,
// across all of the user's flows.
type UserKey struct {
	PartnerID         string // client_id
	PartnerUserID     string
	PartnerUserIDType string
}

func userOf(f Flow) UserKey {
	return UserKey{PartnerID: f.PartnerID, PartnerUserID: f.PartnerUserID, PartnerUserIDType: f.PartnerUserIDType}
}

// lockedUntil returns when user may verify again, or the zero time when
// the user is not locked at now: with failures f1 ≥ … ≥ fN (the N most
// recent in the window), the lock lasts until fN + window, when fewer
// than N remain in it.
func (g *Gateway) lockedUntil(ctx context.Context, user UserKey, now time.Time) (time.Time, error) {
	pol := g.cfg.lockoutFor(user.PartnerID)
	times, err := g.store.FailedAttempts(ctx, user, lockoutReasons, now.Add(-pol.Window), pol.Failures)
	if err != nil {
		return time.Time{}, fmt.Errorf("count failed attempts: %w", err)
	}
	if len(times) < pol.Failures {
		return time.Time{}, nil
	}
	until := times[pol.Failures-1].Add(pol.Window)
	if !until.After(now) {
		return time.Time{}, nil
	}
	return until, nil
}

// checkLockout returns a 423 user_locked *limitError when user is locked,
// counting it under stage ("initiate" or "submit").
func (g *Gateway) checkLockout(ctx context.Context, user UserKey, stage, correlationID string) error {
	now := g.now()
	until, err := g.lockedUntil(ctx, user, now)
	if err != nil || until.IsZero() {
		return err
	}
	g.limits.locked.WithLabelValues(stage).Inc()
	g.log.Info("user locked out", "client_id", user.PartnerID, "correlation_id", correlationID, "stage", stage, "unlock_at", until.UTC())
	return &limitError{
		status:     http.StatusLocked,
		code:       api.CodeUserLocked,
		msg:        "too many failed verifications for this user; new verifications are refused until " + until.UTC().Format(time.RFC3339),
		retryAfter: waitSeconds(until.Sub(now)),
		unlockAt:   until,
	}
}

// limitSubmission applies the per-flow rate limit and the user lockout to
// a submission with user token utok, before its body is read.
func (g *Gateway) limitSubmission(r *http.Request, utok Token) error {
	if err := g.limits.take(g.limits.submitFlow, utok.FlowID, g.now()); err != nil {
		return err
	}
	flow, err := g.store.FlowByID(r.Context(), utok.FlowID)
	if err != nil {
		return fmt.Errorf("load flow: %w", err)
	}
	return g.checkLockout(r.Context(), userOf(flow), "submit", flow.CorrelationID)
}

// lockedOrAnalyze analyses a claimed submission unless its user was locked
// out while it waited: failures of the user's other flows decided since it
// was accepted count, so concurrent flows cannot outrun the lockout by
// more than the attempts being analysed at the same moment.
func (g *Gateway) lockedOrAnalyze(ctx context.Context, log *slog.Logger, sub Submission, flow Flow, partner PartnerConfig) outcome {
	until, err := g.lockedUntil(ctx, userOf(flow), g.now())
	if err != nil {
		return outcome{runtimeErr: err}
	}
	if !until.IsZero() {
		g.limits.locked.WithLabelValues("process").Inc()
		log.Info("user locked out: attempt not analysed", "submission_id", sub.ID, "correlation_id", flow.CorrelationID, "unlock_at", until.UTC())
		return outcome{locked: true}
	}
	return g.analyze(ctx, sub, flow, partner)
}
