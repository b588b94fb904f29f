package gateway

import (
	"bytes"
	"context"
	"errors"

	"github.com/faceverify/faceverify/gateway/api"
)

// This file holds the rules a Store applies when it stores a flow or a
// submission. They are pure functions of the rows the store has read inside
// its write transaction, so every backend (gateway/sqlitestore,
// gateway/pgstore) decides the same way and a backend does only the I/O:
// read the rows, call the rule, write what it returns.

// FlowAttempts is what a store reads about one flow, inside the
// transaction that admits a submission to it.
type FlowAttempts struct {
	// Status is the flow's final status (api.StatusVerified, …), "" while
	// the flow is open.
	Status string
	// Attempts counts the flow's submissions, whatever their state.
	Attempts int
	// Open counts those not yet done (StatePending or StateProcessing).
	Open int
}

// ReuseFlow decides CreateFlow for a correlation id the partner already
// used: stored is the flow found under (f.PartnerID, f.CorrelationID). The
// same user, user id type and kind get stored back (the partner retried
// its initiation); anything else is ErrCorrelationConflict.
func ReuseFlow(stored, f Flow) (Flow, error) {
	if stored.PartnerUserID != f.PartnerUserID || stored.PartnerUserIDType != f.PartnerUserIDType || stored.Kind != f.Kind {
		return Flow{}, ErrCorrelationConflict
	}
	return stored, nil
}

// ReplaySubmission decides CreateSubmission for an idempotency key the
// flow already holds: stored is the submission found under
// (sub.FlowID, sub.IdempotencyKey). The same selfie (equal Fingerprint,
// SHA-256 of the image bytes) is a retry and gets stored back as a
// duplicate; another selfie is ErrIdempotencyConflict. Neither the flow's
// status nor its attempt count matters: a retry of an attempt is answered
// even after the flow closed.
func ReplaySubmission(stored, sub Submission) (Submission, error) {
	if !bytes.Equal(stored.Fingerprint, sub.Fingerprint) {
		return Submission{}, ErrIdempotencyConflict
	}
	return stored, nil
}

// AdmitSubmission decides whether sub may be stored as the next attempt of
// a flow in state a, with at most maxAttempts attempts per flow
// (Config.Verification.MaxAttempts). The rules, in this order:
//
//   - maxAttempts already used: ErrAttemptsExhausted;
//   - the flow has a final status: ErrFlowFinal;
//   - an earlier attempt is pending or processing: ErrInProgress.
//
// Otherwise it returns sub as the store inserts it: Attempt a.Attempts+1,
// State StatePending, Status api.StatusProcessing. The caller must hold
// the flow's attempts still (a write transaction, a lock on the flow row)
// between reading a and inserting.
func AdmitSubmission(sub Submission, a FlowAttempts, maxAttempts int) (Submission, error) {
	switch {
	case a.Attempts >= maxAttempts:
		return Submission{}, ErrAttemptsExhausted
	case a.Status != "":
		return Submission{}, ErrFlowFinal
	case a.Open > 0:
		return Submission{}, ErrInProgress
	}
	sub.Attempt = a.Attempts + 1
	sub.State = StatePending
	sub.Status = api.StatusProcessing
	return sub, nil
}

// AdmissionReader is what Admit reads through, inside the store's write
// transaction that then inserts the submission.
type AdmissionReader interface {
	// FlowAttempts reads the flow's status and attempt counts, holding
	// them until the transaction ends (a row lock, or a database-wide
	// write lock); ErrNotFound for an unknown flow.
	FlowAttempts(ctx context.Context, flowID string) (FlowAttempts, error)
	// SubmissionByKey returns the flow's submission with the idempotency
	// key (Selfie left nil), or ErrNotFound.
	SubmissionByKey(ctx context.Context, flowID, key string) (Submission, error)
}

// Admit decides CreateSubmission: it reads the flow through r, then the
// attempt already stored under sub's idempotency key if any, and applies
// ReplaySubmission or AdmitSubmission. It returns either the stored attempt
// with duplicate=true (nothing to insert), or the submission to insert as
// the flow's next attempt, or the rule's error (ErrNotFound for an unknown
// flow, ErrIdempotencyConflict, ErrAttemptsExhausted, ErrFlowFinal,
// ErrInProgress) or r's.
func Admit(ctx context.Context, r AdmissionReader, sub Submission, maxAttempts int) (out Submission, duplicate bool, err error) {
	a, err := r.FlowAttempts(ctx, sub.FlowID)
	if err != nil {
		return Submission{}, false, err
	}
	if sub.IdempotencyKey != "" {
		stored, err := r.SubmissionByKey(ctx, sub.FlowID, sub.IdempotencyKey)
		switch {
		case err == nil:
			out, err = ReplaySubmission(stored, sub)
			return out, err == nil, err
		case !errors.Is(err, ErrNotFound):
			return Submission{}, false, err
		}
	}
	out, err = AdmitSubmission(sub, a, maxAttempts)
	return out, false, err
}
