package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/storesql"
	"github.com/faceverify/faceverify/inference"
)

var _ gateway.ReplayStore = (*Store)(nil)

// replaySchema is the replay caches: one-way hashes of selfies (SHA-256 of
// the bytes, pHash of the aligned face crop split into four indexed 16-bit
// bands) and the device signatures used within their skew window.
const replaySchema = `
CREATE TABLE selfie_hashes (
	submission_id text COLLATE "C" PRIMARY KEY,
	flow_id       text COLLATE "C" NOT NULL,
	digest        bytea NOT NULL,
	face          bigint,
	band0         integer,
	band1         integer,
	band2         integer,
	band3         integer,
	seen_at       timestamptz NOT NULL
);
CREATE INDEX selfie_hashes_digest ON selfie_hashes (digest);
CREATE INDEX selfie_hashes_band0 ON selfie_hashes (band0);
CREATE INDEX selfie_hashes_band1 ON selfie_hashes (band1);
CREATE INDEX selfie_hashes_band2 ON selfie_hashes (band2);
CREATE INDEX selfie_hashes_band3 ON selfie_hashes (band3);
CREATE INDEX selfie_hashes_seen ON selfie_hashes (seen_at);
CREATE TABLE signature_uses (
	hash            bytea PRIMARY KEY,
	flow_id         text COLLATE "C" NOT NULL,
	idempotency_key text NOT NULL,
	expires_at      timestamptz NOT NULL
);
CREATE INDEX signature_uses_expires ON signature_uses (expires_at);
`

// replayLock is the key of the transaction-scoped advisory lock that
// serialises RecordSelfie across replicas, so of two near-identical selfies
// processed at once the later finds the earlier: the first 8 bytes of
// SHA-256("faceverify selfie hashes") as a big-endian int64 (0xe15de5dbc36753f8).
const replayLock int64 = -2207355510302747656

// RecordSelfie implements gateway.ReplayStore. The lookup and the insert
// run under replayLock (held for one short transaction), so concurrent
// replicas cannot both miss each other's selfie.
func (s *Store) RecordSelfie(ctx context.Context, h gateway.SelfieHash, probes []inference.PHash, since time.Time) ([]gateway.SelfieHash, error) {
	var bands [4][]int32
	for _, p := range probes {
		for b, v := range p.Bands() {
			bands[b] = append(bands[b], int32(v))
		}
	}
	var out []gateway.SelfieHash
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, replayLock); err != nil {
			return fmt.Errorf("lock selfie hashes: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT `+storesql.SelfieHashCols+` FROM selfie_hashes
			WHERE seen_at >= $1 AND flow_id <> $2 AND (digest = $3
				OR band0 = ANY($4) OR band1 = ANY($5) OR band2 = ANY($6) OR band3 = ANY($7))`,
			at(since), h.FlowID, h.Digest, bands[0], bands[1], bands[2], bands[3])
		if err != nil {
			return fmt.Errorf("select selfie hashes: %w", err)
		}
		out, err = storesql.Collect(rows, "select selfie hashes", dec.SelfieHash)
		rows.Close()
		if err != nil {
			return err
		}
		return storesql.InsertSelfieHash(ctx, conn{tx}, h)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UseSignature implements gateway.ReplayStore (storesql.UseSignature).
func (s *Store) UseSignature(ctx context.Context, u gateway.SignatureUse) (gateway.SignatureUse, bool, error) {
	return storesql.UseSignature(ctx, conn{s.pool}, dec, u)
}

// eraseReplayHashes deletes the selfie hashes and signature uses of the
// flows ids: EraseUser removes them with the user's flows. The retention
// purge does not: hashes live for replay.window whatever happens to their
// flow, or a replay would pass once the original's flow is purged.
func eraseReplayHashes(ctx context.Context, tx pgx.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	for _, table := range []string{"selfie_hashes", "signature_uses"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE flow_id = ANY($1)`, ids); err != nil {
			return fmt.Errorf("erase %s: %w", table, err)
		}
	}
	return nil
}
