package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/internal/validate"
)

// purgeBatch is the number of flows one Purge transaction deletes.
const purgeBatch = 500

// UserRef is how the audit log names a partner user: "user:" and the first
// 16 bytes (hex) of HMAC-SHA256(key, clientID NUL idType NUL userID); ""
// without a key. Only a holder of the key can tell whom it names.
func UserRef(key, clientID, idType, userID string) string {
	if key == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(clientID + "\x00" + idType + "\x00" + userID))
	return "user:" + hex.EncodeToString(m.Sum(nil)[:16])
}

// audit appends one row to the audit log; detail (nil or a value encoded
// as JSON) must hold no token, passkey or partner user id.
func (g *Gateway) audit(ctx context.Context, actor, action, subject string, detail any) error {
	d := ""
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return fmt.Errorf("audit %s: %w", action, err)
		}
		d = string(b)
	}
	if _, err := g.store.AppendAudit(context.WithoutCancel(ctx), NewAuditKey(g.cfg.Audit.Key), AuditEntry{
		At: g.now(), Actor: actor, Action: action, Subject: subject, Detail: d,
	}); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// partnerActor names a partner in the audit log.
func partnerActor(clientID string) string { return "partner:" + clientID }

// SelfieKeys is the gateway's selfie key ring.
func (g *Gateway) SelfieKeys() *SelfieKeys { return g.keys }

// ShredKeys destroys the selfie keys due at the gateway's clock and returns
// how many it destroyed; RunBackground calls it every
// min(erasure.epoch/2, 30s).
func (g *Gateway) ShredKeys() (int, error) {
	n, err := g.keys.Shred(g.now())
	if n > 0 {
		g.log.Info("selfie keys destroyed", "count", n)
	}
	return n, err
}

// PurgeOnce applies [retention] at the gateway's clock: flows decided more
// than retention.flows ago are deleted with their submissions, callbacks
// and tokens, and callback bodies older than retention.callback_bodies
// are emptied, in batches of purgeBatch flows, and user locks held
// through an erasure that ended are deleted. Several replicas may run it
// at once. What it removed is logged and recorded in the audit log.
func (g *Gateway) PurgeOnce(ctx context.Context) (Erased, error) {
	now := g.now()
	p := PurgePolicy{Limit: purgeBatch}
	if g.cfg.Retention.Flows > 0 {
		p.FlowsBefore = now.Add(-g.cfg.Retention.Flows)
	}
	if g.cfg.Retention.CallbackBodies > 0 {
		p.CallbackBodiesBefore = now.Add(-g.cfg.Retention.CallbackBodies)
	}
	var total Erased
	if n, err := g.store.PurgeUserLocks(ctx, now); err != nil {
		return total, fmt.Errorf("retention purge: %w", err)
	} else if n > 0 {
		g.log.Info("ended user locks purged", "count", n)
	}
	if p.FlowsBefore.IsZero() && p.CallbackBodiesBefore.IsZero() {
		return total, nil
	}
	for ctx.Err() == nil {
		e, err := g.store.Purge(ctx, p)
		total.Flows += e.Flows
		total.Submissions += e.Submissions
		total.Callbacks += e.Callbacks
		total.Tokens += e.Tokens
		total.CallbackBodies += e.CallbackBodies
		if err != nil {
			return total, fmt.Errorf("retention purge: %w", err)
		}
		if e.Flows < int64(p.Limit) {
			break
		}
	}
	if total.Zero() {
		return total, nil
	}
	g.log.Info("retention purge", "flows", total.Flows, "submissions", total.Submissions,
		"callbacks", total.Callbacks, "tokens", total.Tokens, "callback_bodies", total.CallbackBodies)
	return total, g.audit(ctx, "gateway", AuditRetention, "", total)
}

// privacy runs the key shredder and the retention purge until ctx is
// cancelled.
func (g *Gateway) privacy(ctx context.Context) {
	shred := time.NewTicker(min(g.cfg.Erasure.Epoch/2, 30*time.Second))
	defer shred.Stop()
	purge := time.NewTicker(g.cfg.Retention.Interval)
	defer purge.Stop()
	runPurge := func() {
		if _, err := g.PurgeOnce(ctx); err != nil && ctx.Err() == nil {
			g.log.Warn("retention purge", "err", err)
		}
	}
	if g.cfg.Erasure.KeyDir == "" && g.cfg.Database.Driver == DriverPostgres {
		g.log.Warn("selfie keys are held in this process only (erasure.key_dir unset): a selfie accepted by another replica cannot be read here")
	}
	if g.cfg.Audit.Key == "" {
		g.log.Warn("audit.key unset: audit rows are chained without a key (audit list -verify cannot verify them) and name no user or flow")
	}
	runPurge()
	for {
		select {
		case <-ctx.Done():
			return
		case <-shred.C:
			if _, err := g.ShredKeys(); err != nil {
				g.log.Error("destroy selfie keys", "err", err)
			}
		case <-purge.C:
			runPurge()
		}
	}
}

// handleEraseUser serves DELETE /v1/users/{partner_user_id}
// ?partner_user_id_type=…: it erases the calling partner's records of that
// user (flows, submissions, callbacks, user tokens) and answers the counts;
// a repeated call answers zeros. A locked user stays locked until the
// lock's end (holdLockThroughErasure).
func (g *Gateway) handleEraseUser(w http.ResponseWriter, r *http.Request) {
	ptok, err := g.authenticate(r, TokenPartner)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	// chi matches on the raw path when the path has escapes that decoding
	// would lose (an escaped '/'): the parameter is still escaped then.
	uid := chi.URLParam(r, "partner_user_id")
	var uerr error
	if r.URL.RawPath != "" {
		uid, uerr = url.PathUnescape(uid)
	}
	if uerr != nil || !validText(uid, 128) {
		g.fail(w, r, badRequest("partner_user_id: must be 1–128 printable characters (path-escaped)"))
		return
	}
	typ := r.URL.Query().Get("partner_user_id_type")
	if !validate.ID(typ, 32) {
		g.fail(w, r, badRequest("partner_user_id_type: query parameter required, 1–32 characters of [A-Za-z0-9._-]"))
		return
	}
	if err := g.holdLockThroughErasure(r.Context(), UserKey{PartnerID: ptok.PartnerID, PartnerUserID: uid, PartnerUserIDType: typ}); err != nil {
		g.fail(w, r, err)
		return
	}
	erased, err := g.store.EraseUser(r.Context(), ptok.PartnerID, typ, uid)
	if err != nil {
		g.fail(w, r, fmt.Errorf("erase user: %w", err))
		return
	}
	if err := g.audit(r.Context(), partnerActor(ptok.PartnerID), AuditUserErased,
		UserRef(g.cfg.Audit.Key, ptok.PartnerID, typ, uid), erased); err != nil {
		g.fail(w, r, err)
		return
	}
	g.log.Info("user erased", "client_id", ptok.PartnerID, "flows", erased.Flows, "submissions", erased.Submissions,
		"callbacks", erased.Callbacks, "tokens", erased.Tokens)
	writeJSON(w, http.StatusOK, api.UserErasure{
		PartnerUserIDType: typ,
		Erased: api.ErasedCounts{Flows: erased.Flows, Submissions: erased.Submissions,
			Callbacks: erased.Callbacks, Tokens: erased.Tokens},
	})
}

// openSelfie decrypts a claimed submission's selfie in place. handBack:
// the epoch is live but its key is not held here (another replica may hold
// it), so the claim is released while claims remain; gaveUp: the key was
// destroyed or the selfie does not authenticate (PROCESSING_ERROR).
func (g *Gateway) openSelfie(log *slog.Logger, sub *Submission) (gaveUp bool, handBack bool) {
	plain, err := g.keys.Open(g.now(), sub.ID, sub.Selfie)
	switch {
	case err == nil:
		sub.Selfie = plain
		return false, false
	case errors.Is(err, ErrSelfieKeyNotHeld) && sub.Claims < g.cfg.Processing.MaxClaims:
		log.Warn("selfie key not held by this process, handing the submission back", "submission_id", sub.ID, "claims", sub.Claims, "err", err)
		return false, true
	default:
		log.Error("selfie cannot be read, giving up", "submission_id", sub.ID, "claims", sub.Claims, "err", err)
		return true, false
	}
}

// FlowRef is how the audit log names a flow (token and detail rows):
// "flow:" and the first 16 bytes (hex) of HMAC-SHA256 under
// deriveKey(key, "faceverify flow ref v1") of clientID NUL correlationID;
// "" without a key. The partner's correlation id is not kept, so an
// erased user's flows leave no id in the log; the key's holder can still
// find a given flow's rows.
func FlowRef(key, clientID, correlationID string) string {
	if key == "" {
		return ""
	}
	m := hmac.New(sha256.New, deriveKey(key, "faceverify flow ref v1"))
	m.Write([]byte(clientID + "\x00" + correlationID))
	return "flow:" + hex.EncodeToString(m.Sum(nil)[:16])
}
