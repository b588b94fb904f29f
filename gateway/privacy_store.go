package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// PrivacyStore is the part of Store that erases personal data and keeps the
// audit log: user erasure, the retention purge and the append-only,
// hash-chained audit log. Both backends implement it (Store embeds it).
type PrivacyStore interface {
	// EraseUser deletes, in one transaction, every record the partner
	// holds about one user: the flows with this (partnerUserID,
	// partnerUserIDType), their submissions, queued or delivered
	// callbacks and user tokens (so an open flow's token stops working at
	// once). A second call finds nothing and returns zero counts.
	EraseUser(ctx context.Context, partnerID, partnerUserIDType, partnerUserID string) (Erased, error)
	// Purge applies the retention policy once, for at most p.Limit flows:
	// flows whose decision (completed_at, or created_at for a flow never
	// decided) is before p.FlowsBefore are deleted with their submissions,
	// callbacks and tokens; callbacks delivered or given up before
	// p.CallbackBodiesBefore lose their body (set empty). Safe to run on
	// several replicas at once: each row is purged once.
	Purge(ctx context.Context, p PurgePolicy) (Erased, error)

	// AppendAudit appends e to the audit log: the store assigns Seq (the
	// previous row's + 1, from 1), PrevHash (the previous row's Hash, or
	// 32 zero bytes) and Hash (AuditHash), with At truncated to
	// microseconds, all under a lock so concurrent appenders (replicas,
	// the CLI) form one chain. It returns the stored entry. The table
	// refuses UPDATE and DELETE (triggers), and no method changes a row.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// AuditLog returns up to limit entries with Seq > afterSeq in Seq
	// order.
	AuditLog(ctx context.Context, afterSeq int64, limit int) ([]AuditEntry, error)
}

// Erased counts the rows removed by EraseUser or Purge.
type Erased struct {
	Flows          int64 `json:"flows"`
	Submissions    int64 `json:"submissions"`
	Callbacks      int64 `json:"callbacks"`
	Tokens         int64 `json:"tokens"`
	CallbackBodies int64 `json:"callback_bodies,omitempty"` // Purge only: bodies emptied
}

// Zero reports whether nothing was erased.
func (e Erased) Zero() bool { return e == Erased{} }

// PurgePolicy is one run of the retention purge (see PrivacyStore.Purge).
// A zero time disables that rule.
type PurgePolicy struct {
	FlowsBefore          time.Time
	CallbackBodiesBefore time.Time
	// Limit bounds the flows deleted by one call (≥ 1), so a large backlog
	// is purged in short transactions.
	Limit int
}

// AuditEntry is one row of the audit log. It never holds a token, passkey
// or partner user id in clear: a user appears as UserRef's keyed hash.
type AuditEntry struct {
	Seq      int64
	At       time.Time
	Actor    string // "partner:<client_id>", "operator:<os user>", "gateway"
	Action   string // Audit* constants
	Subject  string // what was acted on: a correlation id, device id, user reference
	Detail   string // JSON object with counts or other non-personal context
	PrevHash []byte // SHA-256, the previous row's Hash (zeros for Seq 1)
	Hash     []byte // AuditHash of this row
}

// Audit actions.
const (
	AuditPartnerToken  = "token.partner"   // POST /v1/token issued a partner token
	AuditUserToken     = "token.user"      // POST /v1/flows issued a user token (subject: correlation id)
	AuditDetailsRead   = "details.read"    // GET /v1/submissions/{correlation_id}
	AuditUserErased    = "user.erase"      // DELETE /v1/users/{partner_user_id} (subject: user reference)
	AuditRetention     = "retention.purge" // the retention purge deleted rows
	AuditDeviceAdd     = "device.add"      // facegateway devices add
	AuditDeviceRevoke  = "device.revoke"   // facegateway devices revoke
	AuditDeviceReplace = "device.replace"  // facegateway devices replace
)

// ErrAuditChain is returned by VerifyAuditChain for a broken chain.
var ErrAuditChain = errors.New("audit chain broken")

// auditGenesis is the PrevHash of the first row.
var auditGenesis = make([]byte, sha256.Size)

// ChainAudit prepares e to follow prev (the last stored row; Seq 0 when the
// log is empty): Seq, PrevHash, At (UTC, truncated to microseconds, as
// both backends store it) and Hash. Stores call it inside their append
// transaction.
func ChainAudit(prevSeq int64, prevHash []byte, e AuditEntry) AuditEntry {
	if prevSeq == 0 {
		prevHash = auditGenesis
	}
	e.Seq = prevSeq + 1
	e.At = e.At.UTC().Truncate(time.Microsecond)
	e.PrevHash = append([]byte(nil), prevHash...)
	e.Hash = AuditHash(e)
	return e
}

// AuditHash is SHA-256 over a domain tag, Seq, At (Unix microseconds),
// the length-prefixed Actor, Action, Subject and Detail, and PrevHash.
func AuditHash(e AuditEntry) []byte {
	h := sha256.New()
	h.Write([]byte("faceverify audit v1\x00"))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(e.Seq))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(e.At.UnixMicro()))
	h.Write(b[:])
	for _, s := range []string{e.Actor, e.Action, e.Subject, e.Detail} {
		binary.BigEndian.PutUint64(b[:], uint64(len(s)))
		h.Write(b[:])
		h.Write([]byte(s))
	}
	h.Write(e.PrevHash)
	return h.Sum(nil)
}

// AuditVerifier checks a log read in Seq order, page by page.
type AuditVerifier struct {
	seq  int64
	hash []byte
	// Count is the number of rows checked so far; Head the last row's
	// hash (note it elsewhere to detect a truncated tail later).
	Count int64
	Head  []byte
}

// Next checks the next rows: contiguous Seq from 1, each PrevHash equal to
// the previous Hash and each Hash recomputed. The error wraps ErrAuditChain
// and names the first bad Seq.
func (v *AuditVerifier) Next(entries []AuditEntry) error {
	for _, e := range entries {
		want := auditGenesis
		if v.seq > 0 {
			want = v.hash
		}
		switch {
		case e.Seq != v.seq+1:
			return fmt.Errorf("%w: seq %d follows %d (rows missing)", ErrAuditChain, e.Seq, v.seq)
		case string(e.PrevHash) != string(want):
			return fmt.Errorf("%w: seq %d: prev_hash does not match row %d", ErrAuditChain, e.Seq, v.seq)
		case string(AuditHash(e)) != string(e.Hash):
			return fmt.Errorf("%w: seq %d: hash does not match its content (row altered)", ErrAuditChain, e.Seq)
		}
		v.seq, v.hash = e.Seq, e.Hash
		v.Count++
		v.Head = e.Hash
	}
	return nil
}
