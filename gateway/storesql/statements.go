package storesql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faceverify/faceverify/gateway"
)

// Conn is the I/O a store gives the shared statements: a database handle
// or a transaction. Statements are written with "?" placeholders and
// time.Time arguments; the Conn rebinds them to its dialect's placeholders
// and encodes the times as its columns hold them (the zero time as NULL).
// Its errors are the driver's, with the store's unique-violation
// sentinels attached where it has them.
type Conn interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (ResultSet, error)
}

// ResultSet is Rows that the caller closes.
type ResultSet interface {
	Rows
	Close()
}

// Rebind replaces the n-th "?" of query by "$n" (PostgreSQL's
// placeholders). The statements of this package have no "?" in literals.
func Rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// list runs query on c and collects its rows with scan; errors are
// wrapped as "op: err".
func list[T any](ctx context.Context, c Conn, op string, scan func(Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := c.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	return Collect(rows, op, scan)
}

// exec runs query on c and returns the rows it changed; errors are
// wrapped as "op: err".
func exec(ctx context.Context, c Conn, op, query string, args ...any) (int64, error) {
	n, err := c.Exec(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return n, nil
}

// placeholders is "?, ?, …" for n arguments (n ≥ 1).
func placeholders(n int) string { return "?" + strings.Repeat(", ?", n-1) }

// FlowsToExpire implements gateway.Store.FlowsToExpire: up to limit open
// flows whose deadline is at or before now and that have no submission
// pending or processing, earliest deadline first.
func FlowsToExpire(ctx context.Context, c Conn, d Decoder, now time.Time, limit int) ([]gateway.Flow, error) {
	return list(ctx, c, "select flows to expire", d.Flow, `SELECT `+FlowCols+` FROM flows
		WHERE status = '' AND expires_at IS NOT NULL AND expires_at <= ?
		AND NOT EXISTS (SELECT 1 FROM submissions s WHERE s.flow_id = flows.id AND s.state <> 'done')
		ORDER BY expires_at, id LIMIT ?`, now, limit)
}

// CallbackDelivered implements gateway.Store.CallbackDelivered.
func CallbackDelivered(ctx context.Context, c Conn, id int64, at time.Time) error {
	_, err := exec(ctx, c, "mark callback delivered",
		`UPDATE callbacks SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = '' WHERE id = ?`, at, id)
	return err
}

// CallbackFailed implements gateway.Store.CallbackFailed: the callback is
// due again at nextAt, or failed for good when giveUp.
func CallbackFailed(ctx context.Context, c Conn, id int64, nextAt time.Time, lastErr string, giveUp bool) error {
	state := "pending"
	if giveUp {
		state = "failed"
	}
	_, err := exec(ctx, c, "record callback failure",
		`UPDATE callbacks SET state = ?, attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?`, state, nextAt, lastErr, id)
	return err
}

// AppendAudit chains e after the head of the audit log and inserts it
// (gateway.ChainAudit). c must be a transaction that serialises appenders
// (SQLite's write lock, PostgreSQL's audit advisory lock).
func AppendAudit(ctx context.Context, c Conn, key gateway.AuditKey, e gateway.AuditEntry, noRows error) (gateway.AuditEntry, error) {
	var seq int64
	var prev []byte
	err := c.QueryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, noRows) {
		return gateway.AuditEntry{}, fmt.Errorf("read audit head: %w", err)
	}
	out := gateway.ChainAudit(key, seq, prev, e)
	_, err = c.Exec(ctx, `INSERT INTO audit_log (`+AuditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		out.Seq, out.At, out.Actor, out.Action, out.Subject, out.Detail, out.PrevHash, out.Hash)
	return out, err
}

// AuditLog implements gateway.Store.AuditLog.
func AuditLog(ctx context.Context, c Conn, d Decoder, afterSeq int64, limit int) ([]gateway.AuditEntry, error) {
	return list(ctx, c, "select audit log", d.Audit, `SELECT `+AuditCols+`
		FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
}

// FailedAttempts implements gateway.Store.FailedAttempts through index
// flows_user: the processing times of the user's done submissions since
// `since` whose reason is one of reasons, latest first.
func FailedAttempts(ctx context.Context, c Conn, user gateway.UserKey, reasons []string, since time.Time, limit int) ([]time.Time, error) {
	if len(reasons) == 0 || limit <= 0 {
		return nil, nil
	}
	args := []any{user.PartnerID, user.PartnerUserID, user.PartnerUserIDType, since}
	for _, r := range reasons {
		args = append(args, r)
	}
	return list(ctx, c, "failed attempts", ScanTime, `
SELECT s.processed_at FROM submissions s JOIN flows f ON f.id = s.flow_id
WHERE f.partner_id = ? AND f.partner_user_id = ? AND f.partner_user_id_type = ?
  AND s.state = 'done' AND s.processed_at >= ?
  AND s.reason IN (`+placeholders(len(reasons))+`)
ORDER BY s.processed_at DESC LIMIT ?`, append(args, limit)...)
}

// UserLockUntil implements gateway.Store.UserLockUntil: the zero time when
// ref holds no lock after now.
func UserLockUntil(ctx context.Context, c Conn, d Decoder, ref []byte, now time.Time) (time.Time, error) {
	t, err := ScanTime(c.QueryRow(ctx, `SELECT unlock_at FROM user_locks WHERE ref = ? AND unlock_at > ?`, ref, now))
	switch {
	case errors.Is(err, d.NoRows):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("user lock: %w", err)
	}
	return t, nil
}

// PurgeUserLocks implements gateway.Store.PurgeUserLocks.
func PurgeUserLocks(ctx context.Context, c Conn, now time.Time) (int64, error) {
	return exec(ctx, c, "purge user locks", `DELETE FROM user_locks WHERE unlock_at <= ?`, now)
}

// PurgeSelfies implements gateway.ReplayStore.PurgeSelfies.
func PurgeSelfies(ctx context.Context, c Conn, before time.Time) (int64, error) {
	return exec(ctx, c, "purge selfie hashes", `DELETE FROM selfie_hashes WHERE seen_at < ?`, before)
}

// PurgeSignatures implements gateway.ReplayStore.PurgeSignatures.
func PurgeSignatures(ctx context.Context, c Conn, now time.Time) (int64, error) {
	return exec(ctx, c, "purge signature uses", `DELETE FROM signature_uses WHERE expires_at <= ?`, now)
}

// ClaimReference is gateway.ReferenceStore.ClaimReference inside a
// transaction c in which the store has already checked (and, where the
// dialect can, locked) the open flow: a sealed reference is returned as
// it is; otherwise owner takes the lease when there is none or it ended
// at or before now, and a lease still held by another is returned with
// claimed false.
func ClaimReference(ctx context.Context, c Conn, d Decoder, flowID, owner string, now, leaseUntil time.Time) (ref gateway.StoredReference, claimed bool, err error) {
	var until time.Time
	err = c.QueryRow(ctx, `SELECT sealed, lease_owner, lease_until FROM flow_references WHERE flow_id = ?`, flowID).
		Scan(&ref.Sealed, &ref.LeaseOwner, Time(&until))
	switch {
	case errors.Is(err, d.NoRows):
		_, err = c.Exec(ctx, `INSERT INTO flow_references (flow_id, lease_owner, lease_until) VALUES (?, ?, ?)`,
			flowID, owner, leaseUntil)
	case err != nil:
	case ref.Sealed != nil:
		return ref, false, nil
	case !until.After(now):
		_, err = c.Exec(ctx, `UPDATE flow_references SET lease_owner = ?, lease_until = ? WHERE flow_id = ?`,
			owner, leaseUntil, flowID)
	default:
		ref.LeaseUntil = until
		return ref, false, nil
	}
	if err != nil {
		return gateway.StoredReference{}, false, err
	}
	return gateway.StoredReference{LeaseOwner: owner, LeaseUntil: leaseUntil.UTC().Truncate(time.Microsecond)}, true, nil
}
