package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
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
	// 32 zero bytes) and Hash (ChainAudit under key: an HMAC-SHA256 when
	// key is set), with At truncated to microseconds, all under a lock so
	// concurrent appenders (replicas, the CLI) form one chain. It returns
	// the stored entry. The table refuses UPDATE and DELETE (triggers),
	// and no method changes a row.
	AppendAudit(ctx context.Context, key AuditKey, e AuditEntry) (AuditEntry, error)
	// AuditLog returns up to limit entries with Seq > afterSeq in Seq
	// order.
	AuditLog(ctx context.Context, afterSeq int64, limit int) ([]AuditEntry, error)
	// CheckAuditGuards returns nil when the audit log's append-only
	// triggers are present, enabled and unchanged (SQLite: the trigger
	// SQL; PostgreSQL: the triggers, their enabled state and their
	// functions' source), or an error wrapping ErrAuditUnguarded that
	// names the first one missing, disabled or altered.
	CheckAuditGuards(ctx context.Context) error
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
	Subject  string // what was acted on: a flow reference (FlowRef), device id, user reference (UserRef)
	Detail   string // JSON object with counts or other non-personal context
	PrevHash []byte // the previous row's Hash (32 zero bytes for Seq 1)
	Hash     []byte // AuditMAC of this row (an unkeyed digest if written without a key)
}

// Audit actions.
const (
	AuditPartnerToken  = "token.partner"   // POST /v1/token issued a partner token
	AuditUserToken     = "token.user"      // POST /v1/flows issued a user token (subject: FlowRef)
	AuditDetailsRead   = "details.read"    // GET /v1/submissions/{correlation_id} (subject: FlowRef)
	AuditUserErased    = "user.erase"      // DELETE /v1/users/{partner_user_id} (subject: user reference)
	AuditRetention     = "retention.purge" // the retention purge deleted rows
	AuditDeviceAdd     = "device.add"      // facegateway devices add
	AuditDeviceRevoke  = "device.revoke"   // facegateway devices revoke
	AuditDeviceReplace = "device.replace"  // facegateway devices replace
)

// Audit verification errors, from AuditVerifier.Next and
// PrivacyStore.CheckAuditGuards.
var (
	// ErrAuditChain: a row was altered, removed or inserted, or its MAC
	// does not verify under the key.
	ErrAuditChain = errors.New("audit chain broken")
	// ErrAuditNoKey: the verifier has no audit key, so the chain cannot be
	// verified (an unkeyed chain can be recomputed by anyone).
	ErrAuditNoKey = errors.New("cannot verify the audit chain without the audit key (" + EnvAuditKey + " or audit.key_file)")
	// ErrAuditUnkeyed: a row holds an unkeyed digest (written by a gateway
	// or command without the audit key, or rewritten by someone without
	// it), so it proves nothing.
	ErrAuditUnkeyed = errors.New("audit row not keyed")
	// ErrAuditUnguarded: an append-only trigger is missing, disabled or
	// altered.
	ErrAuditUnguarded = errors.New("audit log not append-only")
)

// AuditKey is the MAC key of the audit chain, derived from the audit
// secret (AuditConfig.Key) by NewAuditKey; nil means no key. It lives
// outside the database, so a copy of the database cannot be rewritten
// into a chain that verifies.
type AuditKey []byte

// NewAuditKey derives the chain key from the audit secret:
// HMAC-SHA256(secret, "faceverify audit chain v2"), a key of its own so a
// chain MAC is never a user reference (UserRef). "" gives nil (no key).
func NewAuditKey(secret string) AuditKey {
	if secret == "" {
		return nil
	}
	return AuditKey(deriveKey(secret, "faceverify audit chain v2"))
}

// deriveKey is HMAC-SHA256(secret, label): one key per use of the audit
// secret. Labels hold no NUL byte, so none equals a UserRef message.
func deriveKey(secret, label string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(label))
	return m.Sum(nil)
}

// auditGenesis is the PrevHash of the first row.
var auditGenesis = make([]byte, sha256.Size)

// ChainAudit prepares e to follow prev (the last stored row; Seq 0 when the
// log is empty): Seq, PrevHash, At (UTC, truncated to microseconds, as
// both backends store it) and Hash: AuditMAC under key, or the unkeyed
// digest when key is nil (a row -verify reports as ErrAuditUnkeyed).
// Stores call it inside their append transaction.
func ChainAudit(key AuditKey, prevSeq int64, prevHash []byte, e AuditEntry) AuditEntry {
	if prevSeq == 0 {
		prevHash = auditGenesis
	}
	e.Seq = prevSeq + 1
	e.At = e.At.UTC().Truncate(time.Microsecond)
	e.PrevHash = append([]byte(nil), prevHash...)
	if len(key) > 0 {
		e.Hash = AuditMAC(key, e)
	} else {
		e.Hash = auditDigest(sha256.New(), e)
	}
	return e
}

// AuditMAC is HMAC-SHA256 under key over a domain tag, Seq, At (Unix
// microseconds), the length-prefixed Actor, Action, Subject and Detail,
// and PrevHash.
func AuditMAC(key AuditKey, e AuditEntry) []byte {
	return auditDigest(hmac.New(sha256.New, key), e)
}

// auditDigest writes the row's fields to h (SHA-256 for an unkeyed row,
// the HMAC for a keyed one) and returns the sum.
func auditDigest(h hash.Hash, e AuditEntry) []byte {
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

// AuditVerifier checks a log read in Seq order, page by page, under Key.
type AuditVerifier struct {
	// Key is the audit chain key (NewAuditKey); without it Next returns
	// ErrAuditNoKey.
	Key  AuditKey
	seq  int64
	hash []byte
	// Count is the number of rows checked so far; Head the last row's
	// MAC. A chain can still lose its newest rows unnoticed: note Head
	// elsewhere and check later that the row it names is still there.
	Count int64
	Head  []byte
}

// Next checks the next rows: contiguous Seq from 1, each PrevHash equal to
// the previous Hash and each Hash the row's MAC under Key. The error wraps
// ErrAuditNoKey, ErrAuditUnkeyed (the row holds an unkeyed digest) or
// ErrAuditChain (altered, removed or inserted) and names the first bad Seq.
func (v *AuditVerifier) Next(entries []AuditEntry) error {
	if len(v.Key) == 0 {
		return ErrAuditNoKey
	}
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
		case hmac.Equal(AuditMAC(v.Key, e), e.Hash):
		case string(auditDigest(sha256.New(), e)) == string(e.Hash):
			return fmt.Errorf("%w: seq %d holds an unkeyed digest (written without the audit key, or rewritten)", ErrAuditUnkeyed, e.Seq)
		default:
			return fmt.Errorf("%w: seq %d: MAC does not match its content (row altered, or another key)", ErrAuditChain, e.Seq)
		}
		v.seq, v.hash = e.Seq, e.Hash
		v.Count++
		v.Head = e.Hash
	}
	return nil
}
