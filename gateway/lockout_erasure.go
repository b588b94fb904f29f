package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"time"
)

// lockoutRef names a partner user in the user_locks table (a lockout kept
// through an erasure): HMAC-SHA256 under a key derived from the audit key
// (deriveKey(audit.key, "faceverify lockout v1")) of client id NUL id
// type NUL user id, 32 bytes. Without an audit key (loopback only) the
// HMAC key is empty, so a copy of the database could confirm a guessed
// user id until the lock ends.
func (g *Gateway) lockoutRef(user UserKey) []byte {
	var key []byte
	if g.cfg.Audit.Key != "" {
		key = deriveKey(g.cfg.Audit.Key, "faceverify lockout v1")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(user.PartnerID + "\x00" + user.PartnerUserIDType + "\x00" + user.PartnerUserID))
	return m.Sum(nil)
}

// holdLockThroughErasure records the lock of a user about to be erased
// (the erasure deletes the failed attempts the lockout counts), so new
// flows for that user still get 423 until the lock ends. A user not
// locked leaves nothing.
func (g *Gateway) holdLockThroughErasure(ctx context.Context, user UserKey) error {
	until, err := g.lockedUntil(ctx, user, g.now())
	if err != nil || until.IsZero() {
		return err
	}
	if err := g.store.HoldUserLock(ctx, g.lockoutRef(user), until); err != nil {
		return fmt.Errorf("keep lockout through erasure: %w", err)
	}
	return nil
}

// heldLock is the lock kept through an erasure of user, or the zero time.
func (g *Gateway) heldLock(ctx context.Context, user UserKey, now time.Time) (time.Time, error) {
	until, err := g.store.UserLockUntil(ctx, g.lockoutRef(user), now)
	if err != nil {
		return time.Time{}, fmt.Errorf("held lock: %w", err)
	}
	return until, nil
}
