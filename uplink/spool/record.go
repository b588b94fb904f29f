package spool

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
)

// Record file layout (all integers big-endian):
//
//	0   4  magic "FVS1" (format version 1)
//	4   8  record id: the sequence number, also the file name (%016x.rec)
//	12 12  AES-GCM nonce, random per write
//	24  …  AES-256-GCM ciphertext of the plaintext, then the 16-byte tag
//
// The additional authenticated data is bytes 0–11 (magic and record id), so
// a record renamed to another id, or edited anywhere, fails authentication.
// Plaintext: uvarint length of the metadata JSON (recordMeta), the JSON,
// then the selfie bytes.
const (
	magic      = "FVS1"
	headerLen  = 4 + 8 + nonceLen
	nonceLen   = 12
	tagLen     = 16
	maxMetaLen = 64 << 10
)

// Overhead is the fixed number of bytes a record adds to its plaintext
// (header and GCM tag); the plaintext adds the metadata JSON and its length.
const Overhead = headerLen + tagLen

// Errors of record decoding; test with errors.Is.
var (
	// ErrCorrupt: the file is not a spool record (bad magic, too short,
	// malformed plaintext).
	ErrCorrupt = errors.New("spool record corrupt")
	// ErrTampered: the record failed authentication: edited, truncated,
	// renamed or written under another key.
	ErrTampered = errors.New("spool record failed authentication")
)

// Record is one spooled submission, as it is held encrypted on disk.
type Record struct {
	Seq           uint64 // record id, also its order in the spool
	BaseURL       string
	Token         string // the user token; encrypted at rest like the selfie
	CorrelationID string
	// Created is when the record was spooled; zero when the clock was not
	// plausible then.
	Created time.Time
	// Expires is when the record is dropped (token expiry, or Created plus
	// the spool's max age); zero when unknown at spooling time.
	Expires time.Time
	Request api.SubmissionRequest
}

// recordMeta is the JSON metadata of a record's plaintext: the request
// without the selfie bytes, which follow the JSON raw, then its extra
// images (Request.SelfieExtra) raw, ExtraLens giving their lengths in
// order. A record written before extras existed has no ExtraLens: all the
// bytes after the JSON are the selfie.
type recordMeta struct {
	BaseURL       string                `json:"base_url"`
	Token         string                `json:"token"`
	CorrelationID string                `json:"correlation_id,omitempty"`
	CreatedMS     int64                 `json:"created_ms,omitempty"`
	ExpiresMS     int64                 `json:"expires_ms,omitempty"`
	Request       api.SubmissionRequest `json:"request"`
	ExtraLens     []int                 `json:"extra_lens,omitempty"`
}

func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func header(seq uint64) []byte {
	h := make([]byte, 12, headerLen)
	copy(h, magic)
	binary.BigEndian.PutUint64(h[4:12], seq)
	return h
}

// encodePlain builds a record's plaintext.
func encodePlain(r Record) ([]byte, error) {
	m := recordMeta{
		BaseURL: r.BaseURL, Token: r.Token, CorrelationID: r.CorrelationID,
		CreatedMS: unixMS(r.Created), ExpiresMS: unixMS(r.Expires), Request: r.Request,
	}
	m.Request.Selfie, m.Request.SelfieExtra = nil, nil
	size := len(r.Request.Selfie)
	for _, e := range r.Request.SelfieExtra {
		m.ExtraLens = append(m.ExtraLens, len(e))
		size += len(e)
	}
	meta, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	out := make([]byte, 0, binary.MaxVarintLen64+len(meta)+size)
	out = binary.AppendUvarint(out, uint64(len(meta)))
	out = append(out, meta...)
	out = append(out, r.Request.Selfie...)
	for _, e := range r.Request.SelfieExtra {
		out = append(out, e...)
	}
	return out, nil
}

// decodePlain parses a record's plaintext. Errors wrap ErrCorrupt.
func decodePlain(p []byte) (Record, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > maxMetaLen || n > uint64(len(p)-k) {
		return Record{}, fmt.Errorf("%w: bad metadata length", ErrCorrupt)
	}
	var m recordMeta
	if err := json.Unmarshal(p[k:k+int(n)], &m); err != nil {
		return Record{}, fmt.Errorf("%w: metadata: %v", ErrCorrupt, err)
	}
	r := Record{
		BaseURL: m.BaseURL, Token: m.Token, CorrelationID: m.CorrelationID,
		Created: fromMS(m.CreatedMS), Expires: fromMS(m.ExpiresMS), Request: m.Request,
	}
	images := p[k+int(n):]
	r.Request.SelfieExtra = nil
	if len(m.ExtraLens) > 0 {
		extras := make([][]byte, len(m.ExtraLens))
		for i := len(m.ExtraLens) - 1; i >= 0; i-- {
			l := m.ExtraLens[i]
			if l <= 0 || l > len(images) {
				return Record{}, fmt.Errorf("%w: bad extra image length", ErrCorrupt)
			}
			extras[i] = append([]byte(nil), images[len(images)-l:]...)
			images = images[:len(images)-l]
		}
		r.Request.SelfieExtra = extras
	}
	if len(images) > 0 {
		r.Request.Selfie = append([]byte(nil), images...)
	}
	if r.Request.IdempotencyKey == "" {
		return Record{}, fmt.Errorf("%w: no idempotency key", ErrCorrupt)
	}
	return r, nil
}

// sealRecord encrypts r under aead into the on-disk form.
func sealRecord(aead cipher.AEAD, r Record) ([]byte, error) {
	plain, err := encodePlain(r)
	if err != nil {
		return nil, err
	}
	out := header(r.Seq)
	aad := out[:12]
	nonce := make([]byte, nonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	out = append(out, nonce...)
	out = aead.Seal(out, nonce, plain, aad)
	clear(plain) // the selfie copy; the caller's request is untouched
	return out, nil
}

// openRecord authenticates and decrypts a record file whose name says it is
// record seq. Errors wrap ErrCorrupt (not a record) or ErrTampered.
func openRecord(aead cipher.AEAD, seq uint64, data []byte) (Record, error) {
	if len(data) < headerLen+tagLen || string(data[:4]) != magic {
		return Record{}, fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	if got := binary.BigEndian.Uint64(data[4:12]); got != seq {
		return Record{}, fmt.Errorf("%w: record id %016x in file %016x", ErrTampered, got, seq)
	}
	plain, err := aead.Open(nil, data[12:headerLen], data[headerLen:], data[:12])
	if err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	r, err := decodePlain(plain)
	clear(plain)
	if err != nil {
		return Record{}, err
	}
	r.Seq = seq
	return r, nil
}
