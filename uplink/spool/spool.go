// Package spool is the agent's encrypted offline spool: a uplink.Submitter
// that wraps another one (the gateway client) and keeps, on disk, the
// submissions that cannot be delivered now — the gateway is down, the
// network is cut, it answers 5xx, or the device clock is not plausible yet
// (a board without RTC that booted in 1970) — and delivers them later.
//
// Guarantees:
//   - a submission Submit reports as queued (ErrQueued) is on disk: written
//     to a temporary file, fsynced, renamed to its record name and the
//     directory fsynced, so it survives a kill -9 or a power cut;
//   - records are encrypted and authenticated with AES-256-GCM under a
//     per-device key file (0600); the record id is bound as additional data.
//     No plaintext selfie or token is ever written;
//   - each record carries the submission's idempotency key, so a record that
//     is delivered twice (the process died after the gateway accepted it but
//     before the record was deleted) is counted once by the gateway;
//   - a record is deleted when delivered, when the gateway refuses it
//     permanently (4xx other than 408/425/429), when its user token expires
//     (or after Options.MaxAge when the expiry is unknown), when it fails
//     authentication, or when it is evicted;
//   - the spool is bounded by Options.MaxBytes and Options.MaxCount: a new
//     record evicts the oldest ones (counted). A write error (a full disk)
//     is returned and nothing already stored is touched.
//
// Delivery runs in Run, oldest record first, one at a time, with
// exponential backoff and jitter after temporary failures (a record stored
// after a failed try waits the first backoff too). Each final outcome is
// reported on Deliveries so the agent's session learns it; a caller that
// routes outcomes by idempotency key registers the key in
// uplink.SubmitInfo.OnQueued, which runs before the record can be
// delivered (so before Submit returns, an outcome may already be out).
package spool

import (
	"cmp"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/internal/atomicfile"
	"github.com/faceverify/faceverify/internal/clock"
	"github.com/faceverify/faceverify/uplink"
)

// Options configure a Spool. Dir, Key and Next are required.
type Options struct {
	// Dir holds the record files (created 0700 if missing).
	Dir string
	// Key is the AES-256 key (see LoadOrCreateKey).
	Key []byte
	// Next delivers submissions (the gateway client).
	Next uplink.Submitter
	// MaxBytes bounds the total size of the record files (default 64 MiB).
	MaxBytes int64
	// MaxCount bounds the number of records (default 256).
	MaxCount int
	// MaxAge is how long a record is kept when its token's expiry is not
	// known, and the upper bound otherwise (default 15m, the gateway's
	// default user-token lifetime).
	MaxAge time.Duration
	// RetryInitial is the delay after the first failed delivery; it doubles
	// per failure up to RetryMax (defaults 2s and 2m). Each delay is drawn
	// uniformly from [d/2, d) (jitter).
	RetryInitial, RetryMax time.Duration
	// ClockFloor: while the clock reads earlier than this, it is not
	// trusted: submissions go straight to the spool and nothing is
	// delivered (a device signature would carry a 1970 timestamp). Zero
	// trusts every time.
	ClockFloor time.Time
	// ClockPoll is how often an untrusted clock is looked at again
	// (default 5s).
	ClockPoll time.Duration
	Clock     clock.Clock  // default: the wall clock
	FS        FS           // default: OSFS
	Logger    *slog.Logger // default: discard
}

// ErrQueued: the submission was not delivered now but is stored in the
// spool, which delivers it later and reports the outcome on Deliveries.
// Submit returns it wrapped in a *QueuedError.
var ErrQueued = errors.New("submission queued in the offline spool")

// Errors of storing a record; test with errors.Is.
var (
	// ErrTooLarge: the record alone is larger than Options.MaxBytes.
	ErrTooLarge = errors.New("record larger than the spool")
	// ErrWrite: the record could not be written (e.g. the disk is full);
	// the spool's other records are untouched.
	ErrWrite = errors.New("spool write failed")
	// ErrExpired: a record's token expired (or its max age passed) before
	// it could be delivered.
	ErrExpired = errors.New("spooled submission expired")
	// ErrDiscarded: the record was dropped by Discard or evicted.
	ErrDiscarded = errors.New("spooled submission discarded")
)

// Reasons a submission was queued (QueuedError.Reason).
const (
	ReasonUnreachable   = "gateway_unreachable" // temporary gateway or network failure
	ReasonClockUnsynced = "clock_unsynced"      // the device clock is not plausible yet
)

// QueuedError is Submit's answer when the submission was spooled.
type QueuedError struct {
	Key    string // the idempotency key
	Reason string // ReasonUnreachable or ReasonClockUnsynced
	Cause  error  // the delivery error, if one was tried
}

func (e *QueuedError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%v (%s: %v)", ErrQueued, e.Reason, e.Cause)
	}
	return fmt.Sprintf("%v (%s)", ErrQueued, e.Reason)
}

// Is makes errors.Is(err, ErrQueued) true.
func (e *QueuedError) Is(target error) bool { return target == ErrQueued }

// Delivery is the final outcome of a spooled submission: delivered (Err
// nil, Response set) or given up (Err wraps the gateway's refusal,
// ErrExpired, ErrTampered, ErrCorrupt or ErrDiscarded).
type Delivery struct {
	Key           string // idempotency key
	CorrelationID string
	Response      api.SubmissionResponse
	Err           error
}

// Stats are the spool's gauges and counters since New.
type Stats struct {
	Records     int    `json:"records"`      // records on disk now
	Bytes       int64  `json:"bytes"`        // their total size
	Stored      uint64 `json:"stored"`       // records written
	Delivered   uint64 `json:"delivered"`    // accepted by the gateway
	Rejected    uint64 `json:"rejected"`     // refused permanently by the gateway
	Expired     uint64 `json:"expired"`      // token or max age ran out
	Evicted     uint64 `json:"evicted"`      // dropped oldest-first to fit the bounds
	Tampered    uint64 `json:"tampered"`     // failed authentication or corrupt
	Discarded   uint64 `json:"discarded"`    // dropped by Discard
	Retries     uint64 `json:"retries"`      // delivery attempts that failed temporarily
	WriteErrors uint64 `json:"write_errors"` // records that could not be stored
	// Full is set while the spool is at a bound or its last write failed.
	Full bool `json:"full"`
	// ClockUnsynced is set while the clock is earlier than the floor.
	ClockUnsynced bool `json:"clock_unsynced"`
}

// entry is the in-memory index of one record (no secrets, no selfie).
type entry struct {
	seq      uint64
	key      string
	corr     string
	size     int64
	deadline time.Time // zero: unknown until the clock is plausible
	attempts int
	nextAt   time.Time
	busy     bool // being delivered
}

// Spool is an offline spool. Make one with New, run Run, and use it as the
// agent's Submitter. Its methods are safe for concurrent use.
type Spool struct {
	opts Options
	aead cipher.AEAD
	fs   FS
	clk  clock.Clock
	log  *slog.Logger

	mu        sync.Mutex
	entries   []*entry // by seq
	bytes     int64
	nextSeq   uint64
	stats     Stats
	lastWrite error

	wake       chan struct{}
	deliveries chan Delivery
}

var _ uplink.Submitter = (*Spool)(nil)

// testHook, when set by tests, is called at named points of a write or a
// delivery ("temp-synced", "stored", "indexed": Run can see the record,
// "delivered").
var testHook func(point string)

func hook(point string) {
	if testHook != nil {
		testHook(point)
	}
}

// New opens the spool in opts.Dir: it removes temporary files left by an
// interrupted write and indexes the records, dropping (and counting) those
// that fail authentication. Errors: missing options, a bad key, an
// unreadable directory.
func New(opts Options) (*Spool, error) {
	switch {
	case opts.Dir == "":
		return nil, errors.New("spool: Options.Dir is empty")
	case opts.Next == nil:
		return nil, errors.New("spool: Options.Next is nil")
	case len(opts.Key) != KeyLen:
		return nil, fmt.Errorf("spool: key is %d bytes, want %d", len(opts.Key), KeyLen)
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	if opts.MaxCount <= 0 {
		opts.MaxCount = 256
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 15 * time.Minute
	}
	if opts.RetryInitial <= 0 {
		opts.RetryInitial = 2 * time.Second
	}
	if opts.RetryMax < opts.RetryInitial {
		opts.RetryMax = max(2*time.Minute, opts.RetryInitial)
	}
	if opts.ClockPoll <= 0 {
		opts.ClockPoll = 5 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.FS == nil {
		opts.FS = OSFS{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	aead, err := newAEAD(opts.Key)
	if err != nil {
		return nil, err
	}
	s := &Spool{
		opts: opts, aead: aead, fs: opts.FS, clk: opts.Clock,
		log:        opts.Logger.With("component", "spool"),
		nextSeq:    1,
		wake:       make(chan struct{}, 1),
		deliveries: make(chan Delivery, 64),
	}
	if err := s.fs.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool dir: %w", err)
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Spool) path(seq uint64) string {
	return filepath.Join(s.opts.Dir, fmt.Sprintf("%016x.rec", seq))
}

// load indexes the records in the directory.
func (s *Spool) load() error {
	des, err := s.fs.ReadDir(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("spool dir: %w", err)
	}
	now := s.clk.Now()
	removed := false
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".tmp-") {
			s.fs.Remove(filepath.Join(s.opts.Dir, name)) // an interrupted write
			removed = true
			continue
		}
		hexSeq, ok := strings.CutSuffix(name, ".rec")
		if !ok || len(hexSeq) != 16 {
			continue
		}
		seq, err := strconv.ParseUint(hexSeq, 16, 64)
		if err != nil {
			continue
		}
		s.nextSeq = max(s.nextSeq, seq+1)
		data, err := s.fs.ReadFile(filepath.Join(s.opts.Dir, name))
		if err != nil {
			return fmt.Errorf("spool: read %s: %w", name, err)
		}
		r, err := openRecord(s.aead, seq, data)
		if err != nil {
			s.log.Warn("spool record refused and deleted", "record", name, "err", err)
			s.fs.Remove(filepath.Join(s.opts.Dir, name))
			s.stats.Tampered++
			removed = true
			continue
		}
		e := &entry{seq: seq, key: r.Request.IdempotencyKey, corr: r.CorrelationID, size: int64(len(data)), deadline: r.Expires}
		if e.deadline.IsZero() && s.plausible(now) && !r.Created.IsZero() {
			e.deadline = r.Created.Add(s.opts.MaxAge)
		}
		s.entries = append(s.entries, e)
		s.bytes += e.size
	}
	slices.SortFunc(s.entries, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
	if removed {
		s.fs.SyncDir(s.opts.Dir)
	}
	if len(s.entries) > 0 {
		s.log.Info("spool opened", "records", len(s.entries), "bytes", s.bytes)
	}
	return nil
}

func (s *Spool) plausible(t time.Time) bool {
	return s.opts.ClockFloor.IsZero() || !t.Before(s.opts.ClockFloor)
}

// Deliveries reports the final outcome of each spooled submission. The
// channel is buffered; when nobody reads it, outcomes are dropped (the
// records are handled all the same).
func (s *Spool) Deliveries() <-chan Delivery { return s.deliveries }

// Stats returns the current gauges and counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Records, st.Bytes = len(s.entries), s.bytes
	st.Full = s.lastWrite != nil || len(s.entries) >= s.opts.MaxCount || s.bytes >= s.opts.MaxBytes*9/10
	st.ClockUnsynced = !s.plausible(s.clk.Now())
	return st
}

// Pending reports whether a record with this idempotency key is spooled.
func (s *Spool) Pending(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.find(key) != nil
}

func (s *Spool) find(key string) *entry {
	for _, e := range s.entries {
		if e.key == key {
			return e
		}
	}
	return nil
}

// Submit delivers req through Options.Next now when it can; otherwise it
// stores req and returns a *QueuedError (errors.Is ErrQueued). It queues
// when the clock is not plausible yet (without trying) and after a
// temporary failure (uplink.ClassTemporary, or a gateway clock_skew
// refusal). A request without an idempotency key is never queued: it could
// be counted twice. Other errors are returned as Next returned them; when
// storing fails, the delivery error is returned wrapped with the storage
// error (still classified as temporary). info's correlation id and token
// expiry are stored with the record; info.OnQueued runs once it is stored.
func (s *Spool) Submit(ctx context.Context, baseURL, token string, req api.SubmissionRequest, info uplink.SubmitInfo) (api.SubmissionResponse, error) {
	key := req.IdempotencyKey
	if key != "" && s.Pending(key) {
		// Already spooled (a retry of the same attempt): never twice.
		return api.SubmissionResponse{}, &QueuedError{Key: key, Reason: ReasonUnreachable}
	}
	now := s.clk.Now()
	if key != "" && !s.plausible(now) {
		if err := s.store(baseURL, token, req, info, now, nil); err != nil {
			return api.SubmissionResponse{}, &uplink.Error{Op: "submit", Temporary: true,
				Err: fmt.Errorf("clock not synced and the spool cannot store the submission: %w", err)}
		}
		return api.SubmissionResponse{}, &QueuedError{Key: key, Reason: ReasonClockUnsynced}
	}
	resp, err := s.opts.Next.Submit(ctx, baseURL, token, req, info)
	if err == nil || key == "" || !retryable(err) || ctx.Err() != nil {
		return resp, err
	}
	if serr := s.store(baseURL, token, req, info, now, err); serr != nil {
		return api.SubmissionResponse{}, fmt.Errorf("%w (not spooled: %w)", err, serr)
	}
	return api.SubmissionResponse{}, &QueuedError{Key: key, Reason: ReasonUnreachable, Cause: err}
}

// retryable reports whether a delivery error may go away by itself:
// temporary errors, and a gateway refusing the device signature's
// timestamp (the clock is being corrected).
func retryable(err error) bool {
	if uplink.Classify(err) == uplink.ClassTemporary {
		return true
	}
	var ue *uplink.Error
	return errors.As(err, &ue) && ue.Code == api.CodeClockSkew
}

// store writes req as a new record, then evicts the oldest records beyond
// the bounds. A failed write leaves every stored record in place. failed
// is the error of the delivery just tried (nil: none was): the record's
// first retry then waits backoff(1), or the gateway's Retry-After if
// longer, like any later one. info.OnQueued runs once the record is on
// disk and before Run can see it.
func (s *Spool) store(baseURL, token string, req api.SubmissionRequest, info uplink.SubmitInfo, now time.Time, failed error) error {
	r := Record{BaseURL: baseURL, Token: token, CorrelationID: info.CorrelationID, Request: req}
	if s.plausible(now) {
		r.Created = now.UTC()
		r.Expires = r.Created.Add(s.opts.MaxAge)
		if !info.TokenExpires.IsZero() && info.TokenExpires.Before(r.Expires) {
			r.Expires = info.TokenExpires.UTC()
		}
	} else if !info.TokenExpires.IsZero() && s.plausible(info.TokenExpires) {
		r.Expires = info.TokenExpires.UTC() // from the gateway's clock, not ours
	}
	s.mu.Lock()
	r.Seq = s.nextSeq
	s.nextSeq++
	s.mu.Unlock()

	data, err := sealRecord(s.aead, r)
	if err != nil {
		return s.writeFailed(err)
	}
	size := int64(len(data))
	if size > s.opts.MaxBytes {
		return s.writeFailed(fmt.Errorf("%w: %d bytes, spool.max_bytes %d", ErrTooLarge, size, s.opts.MaxBytes))
	}
	if err := s.writeFile(r.Seq, data); err != nil {
		return s.writeFailed(fmt.Errorf("%w: %w", ErrWrite, err))
	}
	e := &entry{seq: r.Seq, key: req.IdempotencyKey, corr: r.CorrelationID, size: size, deadline: r.Expires}
	if failed != nil {
		e.attempts = 1
		e.nextAt = now.Add(max(s.backoff(1), retryAfter(failed)))
	}
	if info.OnQueued != nil {
		info.OnQueued(req.IdempotencyKey) // before Run can deliver it and report the outcome
	}
	var evicted []*entry
	s.mu.Lock()
	s.entries = append(s.entries, e)
	s.bytes += size
	s.stats.Stored++
	s.lastWrite = nil
	for len(s.entries) > 1 && (len(s.entries) > s.opts.MaxCount || s.bytes > s.opts.MaxBytes) {
		i := slices.IndexFunc(s.entries, func(x *entry) bool { return !x.busy })
		if i < 0 || s.entries[i] == e {
			break
		}
		old := s.entries[i]
		s.entries = slices.Delete(s.entries, i, i+1)
		s.bytes -= old.size
		s.stats.Evicted++
		evicted = append(evicted, old)
	}
	s.mu.Unlock()
	hook("indexed")
	for _, old := range evicted {
		s.log.Warn("spool full: oldest record evicted", "record_seq", old.seq, "correlation_id", old.corr)
		s.fs.Remove(s.path(old.seq))
		s.report(Delivery{Key: old.key, CorrelationID: old.corr, Err: fmt.Errorf("%w: evicted to make room", ErrDiscarded)})
	}
	if len(evicted) > 0 {
		s.fs.SyncDir(s.opts.Dir)
	}
	s.log.Info("submission spooled", "record_seq", r.Seq, "correlation_id", r.CorrelationID, "bytes", size)
	signal(s.wake)
	return nil
}

func (s *Spool) writeFailed(err error) error {
	s.mu.Lock()
	s.stats.WriteErrors++
	s.lastWrite = err
	s.mu.Unlock()
	s.log.Error("spool write failed", "err", err)
	return err
}

// writeFile writes data durably as record seq: temp file, fsync, rename,
// fsync of the directory.
func (s *Spool) writeFile(seq uint64, data []byte) error {
	err := atomicfile.Write(s.path(seq), data, atomicfile.Options{
		FS:           s.fs,
		BeforeRename: func() { hook("temp-synced") },
	})
	if err != nil {
		return err
	}
	hook("stored")
	return nil
}

// Discard drops the spooled record with this idempotency key (the user
// cancelled the session): it is not delivered. It reports whether a record
// was dropped; a record being delivered right now is not.
func (s *Spool) Discard(key string) bool {
	s.mu.Lock()
	e := s.find(key)
	if e == nil || e.busy {
		s.mu.Unlock()
		return false
	}
	s.removeLocked(e)
	s.stats.Discarded++
	s.mu.Unlock()
	s.fs.Remove(s.path(e.seq))
	s.fs.SyncDir(s.opts.Dir)
	s.log.Info("spooled submission discarded", "record_seq", e.seq, "correlation_id", e.corr)
	return true
}

func (s *Spool) removeLocked(e *entry) bool {
	i := slices.Index(s.entries, e)
	if i < 0 {
		return false
	}
	s.entries = slices.Delete(s.entries, i, i+1)
	s.bytes -= e.size
	return true
}

// report hands d to Deliveries without blocking.
func (s *Spool) report(d Delivery) {
	select {
	case s.deliveries <- d:
	default:
		s.log.Warn("spool outcome not read; dropped", "correlation_id", d.CorrelationID)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run delivers spooled records until ctx ends, oldest first, one at a time;
// it returns nil then. A delivery in flight when ctx ends is abandoned and
// its record kept.
func (s *Spool) Run(ctx context.Context) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		now := s.clk.Now()
		var wait time.Duration
		var e *entry
		if !s.plausible(now) {
			wait = s.opts.ClockPoll
		} else {
			e, wait = s.pick(now)
		}
		if e != nil {
			s.deliver(ctx, e)
			continue
		}
		var timer <-chan time.Time
		if wait > 0 {
			timer = s.clk.After(wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-timer:
		}
	}
}

// pick returns the oldest record due at now (marked busy), or how long to
// wait for the next one (0: nothing spooled). Records whose deadline was
// unknown get one now: now plus MaxAge.
func (s *Spool) pick(now time.Time) (*entry, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var wait time.Duration
	for _, e := range s.entries {
		if e.deadline.IsZero() {
			e.deadline = now.Add(s.opts.MaxAge)
		}
		if !e.nextAt.After(now) {
			e.busy = true
			return e, 0
		}
		if d := e.nextAt.Sub(now); wait == 0 || d < wait {
			wait = d
		}
	}
	return nil, wait
}

// deliver tries record e once and settles it.
func (s *Spool) deliver(ctx context.Context, e *entry) {
	log := s.log.With("record_seq", e.seq, "correlation_id", e.corr)
	done := func(d Delivery, counter *uint64) {
		s.mu.Lock()
		removed := s.removeLocked(e)
		*counter++
		if removed {
			s.lastWrite = nil // room was made: the next write may succeed
		}
		s.mu.Unlock()
		if removed {
			if err := s.fs.Remove(s.path(e.seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				log.Warn("spool: remove record", "err", err)
			}
			s.fs.SyncDir(s.opts.Dir)
		}
		s.report(d)
	}
	data, err := s.fs.ReadFile(s.path(e.seq))
	if errors.Is(err, fs.ErrNotExist) { // evicted or discarded meanwhile
		s.mu.Lock()
		s.removeLocked(e)
		s.mu.Unlock()
		return
	}
	var r Record
	if err == nil {
		r, err = openRecord(s.aead, e.seq, data)
	}
	if err != nil {
		log.Warn("spool record refused and deleted", "err", err)
		done(Delivery{Key: e.key, CorrelationID: e.corr, Err: err}, &s.stats.Tampered)
		return
	}
	defer clear(r.Request.Selfie)
	for _, e := range r.Request.SelfieExtra {
		defer clear(e)
	}
	now := s.clk.Now()
	if now.After(e.deadline) {
		log.Warn("spooled submission expired before delivery", "attempts", e.attempts)
		done(Delivery{Key: e.key, CorrelationID: e.corr, Err: ErrExpired}, &s.stats.Expired)
		return
	}
	resp, err := s.opts.Next.Submit(ctx, r.BaseURL, r.Token, r.Request, uplink.SubmitInfo{CorrelationID: r.CorrelationID, TokenExpires: r.Expires})
	switch {
	case err == nil:
		hook("delivered")
		log.Info("spooled submission delivered", "attempts", e.attempts+1, "duplicate", resp.Duplicate)
		done(Delivery{Key: e.key, CorrelationID: e.corr, Response: resp}, &s.stats.Delivered)
	case ctx.Err() != nil:
		s.mu.Lock()
		e.busy = false
		s.mu.Unlock()
	case retryable(err):
		s.mu.Lock()
		e.attempts++
		s.stats.Retries++
		d := max(s.backoff(e.attempts), retryAfter(err))
		e.nextAt = now.Add(d)
		e.busy = false
		s.mu.Unlock()
		log.Debug("spooled submission not delivered; will retry", "attempts", e.attempts, "retry_in", d, "err", err)
	default:
		log.Warn("spooled submission refused by the gateway", "err", err)
		done(Delivery{Key: e.key, CorrelationID: e.corr, Err: err}, &s.stats.Rejected)
	}
}

// retryAfter is the gateway's Retry-After carried by err, or 0.
func retryAfter(err error) time.Duration {
	var ue *uplink.Error
	if errors.As(err, &ue) {
		return ue.RetryAfter
	}
	return 0
}

// backoff is RetryInitial·2^(n−1) capped at RetryMax, drawn from [d/2, d).
func (s *Spool) backoff(n int) time.Duration {
	d := s.opts.RetryInitial
	for i := 1; i < n && d < s.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.opts.RetryMax)
	return d/2 + rand.N(d/2+1)
}
