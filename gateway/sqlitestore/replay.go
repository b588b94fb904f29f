package sqlitestore

import (
	"context"
	"fmt"
	"strings"
	"time"

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
	submission_id TEXT PRIMARY KEY,
	flow_id       TEXT NOT NULL,
	digest        BLOB NOT NULL,
	face          INTEGER,
	band0         INTEGER,
	band1         INTEGER,
	band2         INTEGER,
	band3         INTEGER,
	seen_at       INTEGER NOT NULL
);
CREATE INDEX selfie_hashes_digest ON selfie_hashes(digest);
CREATE INDEX selfie_hashes_band0 ON selfie_hashes(band0);
CREATE INDEX selfie_hashes_band1 ON selfie_hashes(band1);
CREATE INDEX selfie_hashes_band2 ON selfie_hashes(band2);
CREATE INDEX selfie_hashes_band3 ON selfie_hashes(band3);
CREATE INDEX selfie_hashes_seen ON selfie_hashes(seen_at);
CREATE TABLE signature_uses (
	hash            BLOB PRIMARY KEY,
	flow_id         TEXT NOT NULL,
	idempotency_key TEXT NOT NULL,
	expires_at      INTEGER NOT NULL
);
CREATE INDEX signature_uses_expires ON signature_uses(expires_at);
`

// bandQuery builds the candidate query of RecordSelfie: the digest, or any
// band equal to the same band of a probe, each an indexed equality so
// SQLite answers the OR with one index lookup per term.
func bandQuery(h gateway.SelfieHash, probes []inference.PHash, since time.Time) (string, []any) {
	var q strings.Builder
	q.WriteString(`SELECT ` + storesql.SelfieHashCols + ` FROM selfie_hashes
		WHERE seen_at >= ? AND flow_id != ? AND (digest = ?`)
	args := []any{since.UnixMicro(), h.FlowID, h.Digest}
	for b := range 4 {
		if len(probes) == 0 {
			break
		}
		fmt.Fprintf(&q, " OR band%d IN (?%s)", b, strings.Repeat(", ?", len(probes)-1))
		for _, p := range probes {
			args = append(args, int64(p.Bands()[b]))
		}
	}
	q.WriteString(")")
	return q.String(), args
}

// RecordSelfie implements gateway.ReplayStore. The write transaction
// (BEGIN IMMEDIATE) serialises it with every other writer of the file.
func (s *Store) RecordSelfie(ctx context.Context, h gateway.SelfieHash, probes []inference.PHash, since time.Time) ([]gateway.SelfieHash, error) {
	var out []gateway.SelfieHash
	err := s.tx(ctx, func(tx prepTx) error {
		q, args := bandQuery(h, probes, since)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("select selfie hashes: %w", err)
		}
		defer rows.Close()
		if out, err = storesql.Collect(rows, "select selfie hashes", dec.SelfieHash); err != nil {
			return err
		}
		rows.Close()
		return storesql.InsertSelfieHash(ctx, conn{tx}, h)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UseSignature implements gateway.ReplayStore (storesql.UseSignature), in
// one transaction.
func (s *Store) UseSignature(ctx context.Context, u gateway.SignatureUse) (gateway.SignatureUse, bool, error) {
	var out gateway.SignatureUse
	fresh := false
	err := s.tx(ctx, func(tx prepTx) error {
		var err error
		out, fresh, err = storesql.UseSignature(ctx, conn{tx}, dec, u)
		return err
	})
	if err != nil {
		return gateway.SignatureUse{}, false, err
	}
	return out, fresh, nil
}

// eraseReplayHashes deletes the selfie hashes and signature uses of the
// flows selected by flowIDs (with args): EraseUser removes them with the
// user's flows. The retention purge does not: hashes live for
// replay.window whatever happens to their flow, or a replay would pass
// once the original's flow is purged.
func eraseReplayHashes(ctx context.Context, tx prepTx, flowIDs string, args ...any) error {
	for _, table := range []string{"selfie_hashes", "signature_uses"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE flow_id IN (`+flowIDs+`)`, args...); err != nil {
			return fmt.Errorf("erase %s: %w", table, err)
		}
	}
	return nil
}
