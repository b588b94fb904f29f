// Package storesql is the row decoding shared by the SQL stores of the
// gateway (gateway/sqlitestore on database/sql, gateway/pgstore on pgx v5):
// the column lists, one scan function per record and the listing loop, so
// each rule that turns a row into a gateway value is written once and the
// backends only do I/O.
//
// Columns whose encoding differs between the dialects are decoded by
// database/sql Scanner types (pgx v5 honours sql.Scanner): a time is
// SQLite INTEGER Unix microseconds or PostgreSQL timestamptz, and NULL is
// the zero time. Nullable numbers and texts scan into pointers, which both
// drivers support.
package storesql

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/inference"
)

// Row is one result row: *sql.Row, *sql.Rows, pgx.Row and pgx.Rows.
type Row interface{ Scan(dest ...any) error }

// Rows is a result set being iterated: *sql.Rows and pgx.Rows. Collect
// does not close it; the caller does.
type Rows interface {
	Row
	Next() bool
	Err() error
}

// Collect scans every remaining row of rows with scan. An error of scan
// is returned as it is; an error of the iteration is wrapped as "op: err".
func Collect[T any](rows Rows, op string, scan func(Row) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// Time is a sql.Scanner that stores a timestamp column into *t, in UTC:
// an int64 is Unix microseconds (SQLite), a time.Time is taken as it is
// (PostgreSQL timestamptz), NULL is the zero time.
func Time(t *time.Time) *TimeScanner { return &TimeScanner{t: t} }

// TimeScanner is the Scanner made by Time.
type TimeScanner struct{ t *time.Time }

// Scan implements sql.Scanner. It returns an error for any other type.
func (s *TimeScanner) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.t = time.Time{}
	case int64:
		*s.t = time.UnixMicro(v).UTC()
	case time.Time:
		*s.t = v.UTC()
	default:
		return fmt.Errorf("storesql: cannot scan %T into a time", src)
	}
	return nil
}

// Decoder turns rows of the gateway's tables into gateway values. NoRows
// is the driver's "no row" error (database/sql's sql.ErrNoRows, pgx's
// pgx.ErrNoRows); a single-row scan that meets it returns
// gateway.ErrNotFound.
type Decoder struct {
	NoRows error
}

// scan runs row.Scan(dest...), mapping NoRows to gateway.ErrNotFound and
// wrapping any other error as "scan what: err".
func (d Decoder) scan(row Row, what string, dest ...any) error {
	err := row.Scan(dest...)
	if d.NoRows != nil && errors.Is(err, d.NoRows) {
		return gateway.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("scan %s: %w", what, err)
	}
	return nil
}

// FlowCols are the columns of flows that Flow decodes, in its order.
const FlowCols = `id, partner_id, correlation_id, partner_user_id, partner_user_id_type, kind, status, reason, created_at, completed_at, expires_at`

// Flow decodes a row of FlowCols.
func (d Decoder) Flow(row Row) (gateway.Flow, error) {
	var f gateway.Flow
	err := d.scan(row, "flow", &f.ID, &f.PartnerID, &f.CorrelationID, &f.PartnerUserID, &f.PartnerUserIDType,
		&f.Kind, &f.Status, &f.Reason, Time(&f.CreatedAt), Time(&f.CompletedAt), Time(&f.ExpiresAt))
	if err != nil {
		return gateway.Flow{}, err
	}
	return f, nil
}

// SubmissionCols are the columns of submissions that Submission decodes,
// in its order (the selfie is not among them).
const SubmissionCols = `id, flow_id, attempt, idempotency_key, fingerprint, device_id, device_liveness, device_live,
	device_model, captured_at, state, status, reason, similarity, liveness, liveness_threshold,
	match_threshold, submitted_at, processed_at, lease_owner, claims, detail`

// Submission decodes a row of SubmissionCols followed by the columns of
// extra (e.g. &selfie for "RETURNING …, selfie"). A NULL idempotency key
// is "".
func (d Decoder) Submission(row Row, extra ...any) (gateway.Submission, error) {
	var sub gateway.Submission
	var key *string
	var state string
	dest := []any{&sub.ID, &sub.FlowID, &sub.Attempt, &key, &sub.Fingerprint, &sub.DeviceID, &sub.DeviceLiveness, &sub.DeviceLive,
		&sub.DeviceModel, Time(&sub.CapturedAt), &state, &sub.Status, &sub.Reason, &sub.Similarity, &sub.Liveness, &sub.LivenessThreshold,
		&sub.MatchThreshold, Time(&sub.SubmittedAt), Time(&sub.ProcessedAt), &sub.LeaseOwner, &sub.Claims, &sub.Detail}
	if err := d.scan(row, "submission", append(dest, extra...)...); err != nil {
		return gateway.Submission{}, err
	}
	if key != nil {
		sub.IdempotencyKey = *key
	}
	sub.State = gateway.SubmissionState(state)
	return sub, nil
}

// DeviceCols are the columns of devices that Device decodes, in its order.
const DeviceCols = `id, public_key, label, created_at, revoked_at, replaced_at`

// Device decodes a row of DeviceCols.
func (d Decoder) Device(row Row) (gateway.Device, error) {
	var dev gateway.Device
	var key []byte
	if err := d.scan(row, "device", &dev.ID, &key, &dev.Label,
		Time(&dev.CreatedAt), Time(&dev.RevokedAt), Time(&dev.ReplacedAt)); err != nil {
		return gateway.Device{}, err
	}
	dev.PublicKey = ed25519.PublicKey(key)
	return dev, nil
}

// CallbackCols are the columns of callbacks that Callback decodes, in its
// order.
const CallbackCols = `id, delivery_id, flow_id, partner_id, event, state, attempts, redeliveries, last_error,
	created_at, next_at, delivered_at, body`

// Callback decodes a row of CallbackCols.
func (d Decoder) Callback(row Row) (gateway.CallbackRecord, error) {
	var c gateway.CallbackRecord
	if err := d.scan(row, "callback", &c.ID, &c.DeliveryID, &c.FlowID, &c.PartnerID, &c.Event, &c.State, &c.Attempts,
		&c.Redeliveries, &c.LastError, Time(&c.CreatedAt), Time(&c.NextAt), Time(&c.DeliveredAt), &c.Body); err != nil {
		return gateway.CallbackRecord{}, err
	}
	return c, nil
}

// CallbackJobCols are the columns of callbacks that CallbackJob decodes,
// in its order.
const CallbackJobCols = `id, delivery_id, event, flow_id, partner_id, body, attempts, created_at`

// CallbackJob decodes a row of CallbackJobCols.
func (d Decoder) CallbackJob(row Row) (gateway.CallbackJob, error) {
	var j gateway.CallbackJob
	if err := d.scan(row, "callback job", &j.ID, &j.DeliveryID, &j.Event, &j.FlowID, &j.PartnerID, &j.Body,
		&j.Attempts, Time(&j.CreatedAt)); err != nil {
		return gateway.CallbackJob{}, err
	}
	return j, nil
}

// SelfieHashCols are the columns of selfie_hashes that SelfieHash decodes,
// in its order.
const SelfieHashCols = `submission_id, flow_id, digest, face, seen_at`

// SelfieHash decodes a row of SelfieHashCols; a NULL face is HasFace false.
func (d Decoder) SelfieHash(row Row) (gateway.SelfieHash, error) {
	var c gateway.SelfieHash
	var face *int64
	if err := d.scan(row, "selfie hash", &c.SubmissionID, &c.FlowID, &c.Digest, &face, Time(&c.SeenAt)); err != nil {
		return gateway.SelfieHash{}, err
	}
	if face != nil {
		c.Face, c.HasFace = inference.PHash(*face), true
	}
	return c, nil
}

// AuditCols are the columns of audit_log that Audit decodes, in its order.
const AuditCols = `seq, at, actor, action, subject, detail, prev_hash, hash`

// Audit decodes a row of AuditCols.
func (d Decoder) Audit(row Row) (gateway.AuditEntry, error) {
	var e gateway.AuditEntry
	if err := d.scan(row, "audit log", &e.Seq, Time(&e.At), &e.Actor, &e.Action, &e.Subject, &e.Detail,
		&e.PrevHash, &e.Hash); err != nil {
		return gateway.AuditEntry{}, err
	}
	return e, nil
}

// ScanTime decodes a row of one timestamp column (as Time does); it is the
// scan of a listing of times, such as the failed attempts of a user.
func ScanTime(row Row) (time.Time, error) {
	var t time.Time
	err := row.Scan(Time(&t))
	return t, err
}
