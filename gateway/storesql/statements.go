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
// and encodes the times as its columns hold them (EncodeTimes).
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

// EncodeTimes replaces, in place, each time.Time of args by enc(t) (a
// dialect's non-null time argument: SQLite Unix microseconds, PostgreSQL
// UTC truncated to microseconds) and returns args.
func EncodeTimes(args []any, enc func(time.Time) any) []any {
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			args[i] = enc(t)
		}
	}
	return args
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

// Statements are the methods of gateway.Store, gateway.DeviceRegistry and
// gateway.ReplayStore whose SQL both dialects share, each one statement on
// C, its rows decoded by D. A store embeds Statements over its database
// handle, so they are its methods; what needs a transaction or a
// dialect's own SQL it writes itself, with the functions of this package
// that take a Conn.
type Statements struct {
	C Conn
	D Decoder
}

// placeholders is "?, ?, …" for n arguments (n ≥ 1).
func placeholders(n int) string { return "?" + strings.Repeat(", ?", n-1) }

// FlowsToExpire implements gateway.Store.FlowsToExpire: up to limit open
// flows whose deadline is at or before now and that have no submission
// pending or processing, earliest deadline first.
func (s Statements) FlowsToExpire(ctx context.Context, now time.Time, limit int) ([]gateway.Flow, error) {
	return list(ctx, s.C, "select flows to expire", s.D.Flow, `SELECT `+FlowCols+` FROM flows
		WHERE status = '' AND expires_at IS NOT NULL AND expires_at <= ?
		AND NOT EXISTS (SELECT 1 FROM submissions s WHERE s.flow_id = flows.id AND s.state <> 'done')
		ORDER BY expires_at, id LIMIT ?`, now, limit)
}

// CallbackDelivered implements gateway.Store.CallbackDelivered.
func (s Statements) CallbackDelivered(ctx context.Context, id int64, at time.Time) error {
	_, err := exec(ctx, s.C, "mark callback delivered",
		`UPDATE callbacks SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = '' WHERE id = ?`, at, id)
	return err
}

// CallbackFailed implements gateway.Store.CallbackFailed: the callback is
// due again at nextAt, or failed for good when giveUp.
func (s Statements) CallbackFailed(ctx context.Context, id int64, nextAt time.Time, lastErr string, giveUp bool) error {
	state := "pending"
	if giveUp {
		state = "failed"
	}
	_, err := exec(ctx, s.C, "record callback failure",
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
func (s Statements) AuditLog(ctx context.Context, afterSeq int64, limit int) ([]gateway.AuditEntry, error) {
	return list(ctx, s.C, "select audit log", s.D.Audit, `SELECT `+AuditCols+`
		FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
}

// FailedAttempts implements gateway.Store.FailedAttempts through index
// flows_user: the processing times of the user's done submissions since
// `since` whose reason is one of reasons, latest first.
func (s Statements) FailedAttempts(ctx context.Context, user gateway.UserKey, reasons []string, since time.Time, limit int) ([]time.Time, error) {
	if len(reasons) == 0 || limit <= 0 {
		return nil, nil
	}
	args := []any{user.PartnerID, user.PartnerUserID, user.PartnerUserIDType, since}
	for _, r := range reasons {
		args = append(args, r)
	}
	return list(ctx, s.C, "failed attempts", ScanTime, `
SELECT s.processed_at FROM submissions s JOIN flows f ON f.id = s.flow_id
WHERE f.partner_id = ? AND f.partner_user_id = ? AND f.partner_user_id_type = ?
  AND s.state = 'done' AND s.processed_at >= ?
  AND s.reason IN (`+placeholders(len(reasons))+`)
ORDER BY s.processed_at DESC LIMIT ?`, append(args, limit)...)
}

// UserLockUntil implements gateway.Store.UserLockUntil: the zero time when
// ref holds no lock after now.
func (s Statements) UserLockUntil(ctx context.Context, ref []byte, now time.Time) (time.Time, error) {
	t, err := ScanTime(s.C.QueryRow(ctx, `SELECT unlock_at FROM user_locks WHERE ref = ? AND unlock_at > ?`, ref, now))
	switch {
	case errors.Is(err, s.D.NoRows):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("user lock: %w", err)
	}
	return t, nil
}

// PurgeUserLocks implements gateway.Store.PurgeUserLocks.
func (s Statements) PurgeUserLocks(ctx context.Context, now time.Time) (int64, error) {
	return exec(ctx, s.C, "purge user locks", `DELETE FROM user_locks WHERE unlock_at <= ?`, now)
}

// PurgeSelfies implements gateway.ReplayStore.PurgeSelfies.
func (s Statements) PurgeSelfies(ctx context.Context, before time.Time) (int64, error) {
	return exec(ctx, s.C, "purge selfie hashes", `DELETE FROM selfie_hashes WHERE seen_at < ?`, before)
}

// PurgeSignatures implements gateway.ReplayStore.PurgeSignatures.
func (s Statements) PurgeSignatures(ctx context.Context, now time.Time) (int64, error) {
	return exec(ctx, s.C, "purge signature uses", `DELETE FROM signature_uses WHERE expires_at <= ?`, now)
}

// ClaimReference is gateway.ReferenceStore.ClaimReference inside a
// transaction c: FlowOpen(lock) first, then a sealed reference is returned
// as it is; otherwise owner takes the lease when there is none or it
// ended at or before now, and a lease still held by another is returned
// with claimed false.
func ClaimReference(ctx context.Context, c Conn, d Decoder, lock, flowID, owner string, now, leaseUntil time.Time) (ref gateway.StoredReference, claimed bool, err error) {
	if err := FlowOpen(ctx, c, d, flowID, lock); err != nil {
		return gateway.StoredReference{}, false, err
	}
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

// HoldUserLock implements gateway.Store.HoldUserLock: the lock of ref
// lasts until the later of its current end and until.
func (s Statements) HoldUserLock(ctx context.Context, ref []byte, until time.Time) error {
	_, err := exec(ctx, s.C, "hold user lock", `INSERT INTO user_locks (ref, unlock_at) VALUES (?, ?)
		ON CONFLICT (ref) DO UPDATE SET unlock_at = CASE WHEN excluded.unlock_at > user_locks.unlock_at
			THEN excluded.unlock_at ELSE user_locks.unlock_at END`, ref, until)
	return err
}

// UseSignature implements gateway.ReplayStore.UseSignature: an insert ON
// CONFLICT DO NOTHING on the signature's hash, so exactly one of
// concurrent uses is fresh; the others read the first use back.
func UseSignature(ctx context.Context, c Conn, d Decoder, u gateway.SignatureUse) (gateway.SignatureUse, bool, error) {
	n, err := exec(ctx, c, "insert signature use", `INSERT INTO signature_uses (hash, flow_id, idempotency_key, expires_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`, u.Hash[:], u.FlowID, u.IdempotencyKey, u.ExpiresAt)
	if err != nil {
		return gateway.SignatureUse{}, false, err
	}
	if n == 1 {
		u.ExpiresAt = u.ExpiresAt.UTC().Truncate(time.Microsecond)
		return u, true, nil
	}
	out := gateway.SignatureUse{Hash: u.Hash}
	err = c.QueryRow(ctx, `SELECT flow_id, idempotency_key, expires_at FROM signature_uses WHERE hash = ?`, u.Hash[:]).
		Scan(&out.FlowID, &out.IdempotencyKey, Time(&out.ExpiresAt))
	if errors.Is(err, d.NoRows) {
		return gateway.SignatureUse{}, false, fmt.Errorf("signature use vanished: %w", gateway.ErrNotFound)
	}
	if err != nil {
		return gateway.SignatureUse{}, false, fmt.Errorf("select signature use: %w", err)
	}
	return out, false, nil
}

// InsertSelfieHash records h unless its submission has one already; a
// hash without a face has NULL face and bands.
func InsertSelfieHash(ctx context.Context, c Conn, h gateway.SelfieHash) error {
	var face, b0, b1, b2, b3 any
	if h.HasFace {
		bands := h.Face.Bands()
		face, b0, b1, b2, b3 = int64(h.Face), int64(bands[0]), int64(bands[1]), int64(bands[2]), int64(bands[3])
	}
	_, err := exec(ctx, c, "insert selfie hash", `INSERT INTO selfie_hashes (submission_id, flow_id, digest, face, band0, band1, band2, band3, seen_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (submission_id) DO NOTHING`,
		h.SubmissionID, h.FlowID, h.Digest, face, b0, b1, b2, b3, h.SeenAt)
	return err
}

// FlowOpen returns gateway.ErrNotFound or gateway.ErrFlowFinal for a
// flow that cannot hold a reference. lock is appended to the SELECT (""
// or " FOR UPDATE", which holds the flow's row until c's transaction ends).
func FlowOpen(ctx context.Context, c Conn, d Decoder, flowID, lock string) error {
	var status string
	err := c.QueryRow(ctx, `SELECT status FROM flows WHERE id = ?`+lock, flowID).Scan(&status)
	switch {
	case errors.Is(err, d.NoRows):
		return gateway.ErrNotFound
	case err != nil:
		return err
	case status != "":
		return gateway.ErrFlowFinal
	}
	return nil
}

// PutReference is gateway.ReferenceStore.PutReference inside a
// transaction c: FlowOpen(lock) first, then gateway.ErrLeaseLost unless
// owner holds the lease of the flow's unsealed reference.
func PutReference(ctx context.Context, c Conn, d Decoder, lock, flowID, owner string, sealed []byte) error {
	if err := FlowOpen(ctx, c, d, flowID, lock); err != nil {
		return err
	}
	n, err := c.Exec(ctx, `UPDATE flow_references SET sealed = ?, lease_owner = '', lease_until = ?
		WHERE flow_id = ? AND lease_owner = ? AND sealed IS NULL`, sealed, time.Unix(0, 0), flowID, owner)
	if err != nil {
		return err
	}
	if n != 1 {
		return gateway.ErrLeaseLost
	}
	return nil
}

// ReleaseReference implements gateway.ReferenceStore.ReleaseReference.
func (s Statements) ReleaseReference(ctx context.Context, flowID, owner string) error {
	_, err := exec(ctx, s.C, "release reference",
		`DELETE FROM flow_references WHERE flow_id = ? AND lease_owner = ? AND sealed IS NULL`, flowID, owner)
	return err
}

// Callbacks implements gateway.Store.Callbacks: the callbacks matching f,
// newest first, at most f.Limit (100 when not positive).
func (s Statements) Callbacks(ctx context.Context, f gateway.CallbackFilter) ([]gateway.CallbackRecord, error) {
	var where []string
	var args []any
	if f.PartnerID != "" {
		where, args = append(where, "partner_id = ?"), append(args, f.PartnerID)
	}
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, f.State)
	}
	q := `SELECT ` + CallbackCols + ` FROM callbacks`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	return list(ctx, s.C, "select callbacks", s.D.Callback, q+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
}

// RedeliverCallback implements gateway.Store.RedeliverCallback: the
// callback is due again at when with its attempts reset;
// gateway.ErrCallbackPurged when its body is gone, gateway.ErrNotFound
// when there is no such delivery id.
func RedeliverCallback(ctx context.Context, c Conn, d Decoder, deliveryID string, when time.Time) (gateway.CallbackRecord, error) {
	rec, err := d.Callback(c.QueryRow(ctx, `UPDATE callbacks
		SET state = 'pending', next_at = ?, attempts = 0, redeliveries = redeliveries + 1, delivered_at = NULL
		WHERE delivery_id = ? AND length(body) > 0 RETURNING `+CallbackCols, when, deliveryID))
	if errors.Is(err, gateway.ErrNotFound) {
		var n int
		if c.QueryRow(ctx, `SELECT count(*) FROM callbacks WHERE delivery_id = ?`, deliveryID).Scan(&n) == nil && n > 0 {
			return gateway.CallbackRecord{}, gateway.ErrCallbackPurged
		}
	}
	return rec, err
}

// Devices implements gateway.DeviceRegistry.Devices, by id.
func (s Statements) Devices(ctx context.Context) ([]gateway.Device, error) {
	return list(ctx, s.C, "select devices", s.D.Device, `SELECT `+DeviceCols+` FROM devices ORDER BY id`)
}

// DeviceByID implements gateway.DeviceRegistry.DeviceByID.
func (s Statements) DeviceByID(ctx context.Context, id string) (gateway.Device, error) {
	return s.D.Device(s.C.QueryRow(ctx, `SELECT `+DeviceCols+` FROM devices WHERE id = ?`, id))
}

// FlowByID implements gateway.Store.FlowByID.
func (s Statements) FlowByID(ctx context.Context, id string) (gateway.Flow, error) {
	return s.D.Flow(s.C.QueryRow(ctx, `SELECT `+FlowCols+` FROM flows WHERE id = ?`, id))
}

// FlowByCorrelation implements gateway.Store.FlowByCorrelation.
func (s Statements) FlowByCorrelation(ctx context.Context, partnerID, correlationID string) (gateway.Flow, error) {
	return s.D.Flow(s.C.QueryRow(ctx,
		`SELECT `+FlowCols+` FROM flows WHERE partner_id = ? AND correlation_id = ?`, partnerID, correlationID))
}

// Submissions implements gateway.Store.Submissions, by attempt.
func (s Statements) Submissions(ctx context.Context, flowID string) ([]gateway.Submission, error) {
	return list(ctx, s.C, "select submissions", func(r Row) (gateway.Submission, error) { return s.D.Submission(r) },
		`SELECT `+SubmissionCols+` FROM submissions WHERE flow_id = ? ORDER BY attempt`, flowID)
}

// Admission is gateway.AdmissionReader over the admitting transaction C:
// the keyed lookup in shared SQL, the flow's attempts by the store's
// Attempts (its own SQL, taking the row lock its dialect needs).
type Admission struct {
	C        Conn
	D        Decoder
	Attempts func(ctx context.Context, flowID string) (gateway.FlowAttempts, error)
}

// FlowAttempts implements gateway.AdmissionReader with a.Attempts.
func (a Admission) FlowAttempts(ctx context.Context, flowID string) (gateway.FlowAttempts, error) {
	return a.Attempts(ctx, flowID)
}

// Create is gateway.Store.CreateSubmission inside the admitting
// transaction: gateway.Admit decides, and an admitted submission is
// inserted (InsertSubmission) and returned without its selfie.
func (a Admission) Create(ctx context.Context, sub gateway.Submission, maxAttempts int) (gateway.Submission, bool, error) {
	out, dup, err := gateway.Admit(ctx, a, sub, maxAttempts)
	if err != nil || dup {
		return out, dup, err
	}
	if err := InsertSubmission(ctx, a.C, out); err != nil {
		return gateway.Submission{}, false, err
	}
	out.Selfie = nil
	return out, false, nil
}

// SubmissionByKey implements gateway.AdmissionReader.SubmissionByKey.
func (a Admission) SubmissionByKey(ctx context.Context, flowID, key string) (gateway.Submission, error) {
	return a.D.Submission(a.C.QueryRow(ctx,
		`SELECT `+SubmissionCols+` FROM submissions WHERE flow_id = ? AND idempotency_key = ?`, flowID, key))
}

// ReleaseSubmission implements gateway.Store.ReleaseSubmission:
// gateway.ErrLeaseLost unless owner holds the submission's lease.
func (s Statements) ReleaseSubmission(ctx context.Context, id, owner string, retryAt time.Time) error {
	n, err := exec(ctx, s.C, "release submission", `UPDATE submissions SET state = 'pending', lease_owner = '', lease_until = ?
		WHERE id = ? AND lease_owner = ? AND state = 'processing'`, retryAt, id, owner)
	if err != nil {
		return err
	}
	if n == 0 {
		return gateway.ErrLeaseLost
	}
	return nil
}

// DeleteExpiredTokens implements gateway.Store.DeleteExpiredTokens.
func (s Statements) DeleteExpiredTokens(ctx context.Context, now time.Time) (int64, error) {
	return exec(ctx, s.C, "delete tokens", `DELETE FROM tokens WHERE expires_at <= ?`, now)
}

// NullTime is t as a nullable time argument: NULL for the zero time.
func NullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// ExtendFlow moves a user token's flow deadline to the token's expiry
// when that is later (gateway.Store.PutToken, in its transaction).
func ExtendFlow(ctx context.Context, c Conn, t gateway.Token) error {
	if t.Kind != gateway.TokenUser || t.FlowID == "" {
		return nil
	}
	_, err := exec(ctx, c, "extend flow deadline", `UPDATE flows SET expires_at = ?
		WHERE id = ? AND status = '' AND (expires_at IS NULL OR expires_at < ?)`, t.ExpiresAt, t.FlowID, t.ExpiresAt)
	return err
}

// QueueCallback inserts a pending callback due at `when`, with a new
// delivery id when cb has none.
func QueueCallback(ctx context.Context, c Conn, flowID, partnerID string, cb gateway.NewCallback, when time.Time) error {
	if cb.DeliveryID == "" {
		cb.DeliveryID = gateway.NewDeliveryID()
	}
	_, err := exec(ctx, c, "queue callback", `INSERT INTO callbacks (delivery_id, event, flow_id, partner_id, body, state, next_at, created_at)
		VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`, cb.DeliveryID, cb.Event, flowID, partnerID, cb.Body, when, when)
	return err
}

// CloseFlow ends gateway.Store.CompleteSubmission once the submission is
// done, in the same transaction: for a final result the flow takes r's
// verdict and r's callback is queued, unless the flow was closed already
// (e.g. expired, whose callback was queued then).
func CloseFlow(ctx context.Context, c Conn, r gateway.Result, flowID, partnerID string) error {
	if !r.Final {
		return nil
	}
	n, err := exec(ctx, c, "close flow", `UPDATE flows SET status = ?, reason = ?, completed_at = ? WHERE id = ? AND status = ''`,
		r.FlowStatus, r.FlowReason, NullTime(r.ProcessedAt), flowID)
	if err != nil || n == 0 || r.Callback == nil {
		return err
	}
	return QueueCallback(ctx, c, flowID, partnerID, gateway.NewCallback{
		DeliveryID: r.CallbackDeliveryID, Event: r.CallbackEvent, Body: r.Callback}, r.ProcessedAt)
}

// InsertSubmission inserts the admitted submission sub, with its selfie,
// in the admitting transaction c (after gateway.Admit). A "" idempotency
// key is NULL, so keyless attempts never collide.
func InsertSubmission(ctx context.Context, c Conn, sub gateway.Submission) error {
	var key any
	if sub.IdempotencyKey != "" {
		key = sub.IdempotencyKey
	}
	_, err := exec(ctx, c, "insert submission", `INSERT INTO submissions (id, flow_id, attempt, idempotency_key, fingerprint,
		device_id, device_liveness, device_live, device_model, captured_at, selfie, state, status, submitted_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sub.ID, sub.FlowID, sub.Attempt, key, sub.Fingerprint, sub.DeviceID,
		sub.DeviceLiveness, sub.DeviceLive, sub.DeviceModel, NullTime(sub.CapturedAt), sub.Selfie,
		string(sub.State), sub.Status, sub.SubmittedAt)
	return err
}
