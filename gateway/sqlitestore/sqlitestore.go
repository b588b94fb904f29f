// Package sqlitestore is the embedded gateway.Store: one SQLite file through
// the pure-Go driver modernc.org/sqlite, in WAL mode. Write transactions
// begin IMMEDIATE, so the checks of CreateSubmission and the claims of
// ClaimSubmission/ClaimCallback are serialised across goroutines and
// processes sharing the file.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // registers driver "sqlite"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/storesql"
)

// Store is a gateway.Store backed by SQLite.
type Store struct {
	storesql.Statements // the statements both dialects share, on pdb
	db                  *sql.DB
	stmts               *stmtCache // the statements kept prepared
	pdb                 prepDB     // db with its queries prepared once
}

var _ gateway.Store = (*Store)(nil)

// schema is applied when PRAGMA user_version is below its index+1.
var schema = []string{`
CREATE TABLE tokens (
	hash       BLOB PRIMARY KEY,
	kind       TEXT NOT NULL,
	partner_id TEXT NOT NULL,
	flow_id    TEXT NOT NULL DEFAULT '',
	expires_at INTEGER NOT NULL
);
CREATE INDEX tokens_expires ON tokens(expires_at);
CREATE TABLE flows (
	id                   TEXT PRIMARY KEY,
	partner_id           TEXT NOT NULL,
	correlation_id       TEXT NOT NULL,
	partner_user_id      TEXT NOT NULL,
	partner_user_id_type TEXT NOT NULL,
	kind                 TEXT NOT NULL,
	status               TEXT NOT NULL DEFAULT '',
	reason               TEXT NOT NULL DEFAULT '',
	created_at           INTEGER NOT NULL,
	completed_at         INTEGER,
	UNIQUE (partner_id, correlation_id)
);
CREATE TABLE submissions (
	id                 TEXT PRIMARY KEY,
	flow_id            TEXT NOT NULL REFERENCES flows(id),
	attempt            INTEGER NOT NULL,
	idempotency_key    TEXT,
	fingerprint        BLOB NOT NULL,
	device_id          TEXT NOT NULL,
	device_liveness    REAL,
	device_live        INTEGER NOT NULL DEFAULT 0,
	device_model       TEXT NOT NULL DEFAULT '',
	captured_at        INTEGER,
	selfie             BLOB,
	state              TEXT NOT NULL,
	status             TEXT NOT NULL,
	reason             TEXT NOT NULL DEFAULT '',
	similarity         REAL,
	liveness           REAL,
	liveness_threshold REAL NOT NULL DEFAULT 0,
	match_threshold    REAL NOT NULL DEFAULT 0,
	submitted_at       INTEGER NOT NULL,
	processed_at       INTEGER,
	lease_owner        TEXT NOT NULL DEFAULT '',
	lease_until        INTEGER NOT NULL DEFAULT 0,
	claims             INTEGER NOT NULL DEFAULT 0,
	UNIQUE (flow_id, attempt),
	UNIQUE (flow_id, idempotency_key)
);
CREATE INDEX submissions_due ON submissions(state, lease_until);
CREATE TABLE callbacks (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	flow_id      TEXT NOT NULL REFERENCES flows(id),
	partner_id   TEXT NOT NULL,
	body         BLOB NOT NULL,
	state        TEXT NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_at      INTEGER NOT NULL,
	last_error   TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	delivered_at INTEGER
);
CREATE INDEX callbacks_due ON callbacks(state, next_at);
`, devicesSchema, devicesReplacedSchema, privacySchema, submissionDetailSchema, replaySchema, callbacksSchema, userLocksSchema, referencesSchema}

// Open opens (creating if needed) the database file at path and brings its
// schema up to date. The file, its -wal and -shm are FileMode (0600)
// whatever the umask, and deleted content is overwritten with zeros
// (PRAGMA secure_delete).
func Open(ctx context.Context, path string) (*Store, error) {
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "secure_delete(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4) // keep the connections, and the statements prepared on them
	stmts := newStmtCache(db)
	pdb := prepDB{db, stmts}
	s := &Store{Statements: storesql.Statements{C: conn{pdb}, D: dec}, db: db, stmts: stmts, pdb: pdb}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := checkModes(path); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	for v := version; v < len(schema); v++ {
		// The scripts run once and hold several statements: not prepared.
		err := s.tx(ctx, func(tx prepTx) error {
			if _, err := tx.Tx.ExecContext(ctx, schema[v]); err != nil {
				return err
			}
			_, err := tx.Tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1))
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate schema to %d: %w", v+1, err)
		}
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.close()
	return s.db.Close()
}

// tx runs fn in a write transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, fn func(prepTx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	var missed []string
	defer func() {
		for _, q := range missed { // the connection is back in the pool
			s.stmts.stmt(ctx, q)
		}
	}()
	if err := fn(prepTx{tx, s.stmts, &missed}); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Times are stored as Unix microseconds (UTC); the zero time as NULL.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// dec decodes rows; sql.ErrNoRows is gateway.ErrNotFound.
var dec = storesql.Decoder{NoRows: sql.ErrNoRows}

func nullFloat(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// PutToken implements gateway.Store.
func (s *Store) PutToken(ctx context.Context, t gateway.Token) error {
	return s.tx(ctx, func(tx prepTx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO tokens (hash, kind, partner_id, flow_id, expires_at) VALUES (?, ?, ?, ?, ?)`,
			t.Hash[:], string(t.Kind), t.PartnerID, t.FlowID, t.ExpiresAt.UnixMicro())
		if err != nil {
			return fmt.Errorf("insert token: %w", err)
		}
		return storesql.ExtendFlow(ctx, conn{tx}, t)
	})
}

// LookupToken implements gateway.Store.
func (s *Store) LookupToken(ctx context.Context, hash [32]byte, now time.Time) (gateway.Token, error) {
	t := gateway.Token{Hash: hash}
	var kind string
	var exp int64
	err := s.pdb.QueryRowContext(ctx,
		`SELECT kind, partner_id, flow_id, expires_at FROM tokens WHERE hash = ? AND expires_at > ?`,
		hash[:], now.UnixMicro()).Scan(&kind, &t.PartnerID, &t.FlowID, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return gateway.Token{}, gateway.ErrNotFound
	}
	if err != nil {
		return gateway.Token{}, fmt.Errorf("select token: %w", err)
	}
	t.Kind = gateway.TokenKind(kind)
	t.ExpiresAt = time.UnixMicro(exp).UTC()
	return t, nil
}

// CreateFlow implements gateway.Store.
func (s *Store) CreateFlow(ctx context.Context, f gateway.Flow) (gateway.Flow, bool, error) {
	var out gateway.Flow
	created := false
	err := s.tx(ctx, func(tx prepTx) error {
		old, err := dec.Flow(tx.QueryRowContext(ctx,
			`SELECT `+storesql.FlowCols+` FROM flows WHERE partner_id = ? AND correlation_id = ?`, f.PartnerID, f.CorrelationID))
		switch {
		case err == nil:
			out, err = gateway.ReuseFlow(old, f)
			return err
		case !errors.Is(err, gateway.ErrNotFound):
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO flows (`+storesql.FlowCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			f.ID, f.PartnerID, f.CorrelationID, f.PartnerUserID, f.PartnerUserIDType, f.Kind, f.Status, f.Reason,
			ts(f.CreatedAt), ts(f.CompletedAt), ts(f.ExpiresAt))
		if err != nil {
			return fmt.Errorf("insert flow: %w", err)
		}
		out, created = f, true
		return nil
	})
	if err != nil {
		return gateway.Flow{}, false, err
	}
	return out, created, nil
}

// CreateSubmission implements gateway.Store, deciding with gateway.Admit
// inside one IMMEDIATE transaction.
func (s *Store) CreateSubmission(ctx context.Context, sub gateway.Submission, maxAttempts int) (gateway.Submission, bool, error) {
	var out gateway.Submission
	dup := false
	err := s.tx(ctx, func(tx prepTx) error {
		var err error
		out, dup, err = newAdmission(tx).Create(ctx, sub, maxAttempts)
		return err
	})
	if err != nil {
		return gateway.Submission{}, false, err
	}
	return out, dup, nil
}

// admissionTx counts a flow's attempts for storesql.Admission in a write
// transaction (which in SQLite holds the database's write lock).
type admissionTx struct{ tx prepTx }

func newAdmission(tx prepTx) storesql.Admission {
	return storesql.Admission{C: conn{tx}, D: dec, Attempts: admissionTx{tx}.FlowAttempts}
}

func (a admissionTx) FlowAttempts(ctx context.Context, flowID string) (gateway.FlowAttempts, error) {
	var f gateway.FlowAttempts
	if err := a.tx.QueryRowContext(ctx, `SELECT status FROM flows WHERE id = ?`, flowID).Scan(&f.Status); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return f, gateway.ErrNotFound
		}
		return f, fmt.Errorf("select flow: %w", err)
	}
	if err := a.tx.QueryRowContext(ctx,
		`SELECT COUNT(*), COALESCE(SUM(state != 'done'), 0) FROM submissions WHERE flow_id = ?`,
		flowID).Scan(&f.Attempts, &f.Open); err != nil {
		return f, fmt.Errorf("count submissions: %w", err)
	}
	return f, nil
}

// ClaimSubmission implements gateway.Store.
func (s *Store) ClaimSubmission(ctx context.Context, owner string, now, leaseUntil time.Time) (gateway.Submission, error) {
	var sub gateway.Submission
	var selfie []byte
	err := s.tx(ctx, func(tx prepTx) error {
		var err error
		sub, err = dec.Submission(tx.QueryRowContext(ctx, `UPDATE submissions
			SET state = 'processing', lease_owner = ?, lease_until = ?, claims = claims + 1
			WHERE id = (SELECT id FROM submissions
				WHERE state IN ('pending', 'processing') AND lease_until <= ?
				ORDER BY submitted_at, id LIMIT 1)
			RETURNING `+storesql.SubmissionCols+`, selfie`,
			owner, leaseUntil.UnixMicro(), now.UnixMicro()), &selfie)
		return err
	})
	if err != nil {
		return gateway.Submission{}, err
	}
	sub.Selfie = selfie
	return sub, nil
}

// CompleteSubmission implements gateway.Store.
func (s *Store) CompleteSubmission(ctx context.Context, r gateway.Result) error {
	return s.tx(ctx, func(tx prepTx) error {
		var flowID, partnerID string
		err := tx.QueryRowContext(ctx, `SELECT s.flow_id, f.partner_id FROM submissions s JOIN flows f ON f.id = s.flow_id
			WHERE s.id = ? AND s.lease_owner = ? AND s.state = 'processing'`, r.SubmissionID, r.Owner).Scan(&flowID, &partnerID)
		if errors.Is(err, sql.ErrNoRows) {
			return gateway.ErrLeaseLost
		}
		if err != nil {
			return fmt.Errorf("select claimed submission: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE submissions SET state = 'done', status = ?, reason = ?,
			similarity = ?, liveness = ?, liveness_threshold = ?, match_threshold = ?, processed_at = ?,
			selfie = NULL, lease_owner = '', lease_until = 0, detail = ? WHERE id = ?`,
			r.Status, r.Reason, nullFloat(r.Similarity), nullFloat(r.Liveness), r.LivenessThreshold,
			r.MatchThreshold, ts(r.ProcessedAt), r.Detail, r.SubmissionID); err != nil {
			return fmt.Errorf("update submission: %w", err)
		}
		return storesql.CloseFlow(ctx, conn{tx}, r, flowID, partnerID)
	})
}

// ClaimCallback implements gateway.Store.
func (s *Store) ClaimCallback(ctx context.Context, now, leaseUntil time.Time) (gateway.CallbackJob, error) {
	var j gateway.CallbackJob
	err := s.tx(ctx, func(tx prepTx) error {
		var err error
		j, err = dec.CallbackJob(tx.QueryRowContext(ctx, `UPDATE callbacks SET next_at = ?
			WHERE id = (SELECT id FROM callbacks WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT 1)
			RETURNING `+storesql.CallbackJobCols, leaseUntil.UnixMicro(), now.UnixMicro()))
		if err != nil && !errors.Is(err, gateway.ErrNotFound) {
			return fmt.Errorf("claim callback: %w", err)
		}
		return err
	})
	return j, err
}
