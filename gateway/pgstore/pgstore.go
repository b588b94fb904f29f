// Package pgstore is the gateway.Store (and gateway.DeviceRegistry) on
// PostgreSQL, through github.com/jackc/pgx/v5 and its pgxpool. It is the
// backend for running several gateway replicas over one database: every
// replica claims submissions and callbacks with SELECT … FOR UPDATE SKIP
// LOCKED under a lease, so each row is worked on by one replica at a time
// and a replica that dies hands its rows over when their lease ends.
//
// Transactions run at READ COMMITTED (PostgreSQL's default). The checks of
// CreateSubmission are made atomic by locking the flow row (FOR NO KEY
// UPDATE) first, which serialises the attempts of one flow without
// serialising different flows; claims are single UPDATE statements over a
// SKIP LOCKED subquery. Nothing relies on SERIALIZABLE, so no statement has
// to be retried after a serialization failure.
//
// Open brings the schema up to date (table schema_version) under a
// transaction-scoped advisory lock, so replicas starting together migrate
// once. Migrations are additive: a replica of an older release keeps
// working on a schema migrated by a newer one during a rolling upgrade.
//
// Ids are text COLLATE "C", so listings order by bytes whatever the
// database's locale (as SQLite does). Times are stored as timestamptz,
// truncated to microseconds (UTC), the zero time as NULL.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/storesql"
)

// Store is a gateway.Store and gateway.DeviceRegistry backed by a
// PostgreSQL connection pool. Safe for concurrent use.
type Store struct {
	storesql.Statements // the statements both dialects share, on pool
	pool                *pgxpool.Pool
}

var (
	_ gateway.Store          = (*Store)(nil)
	_ gateway.DeviceRegistry = (*Store)(nil)
)

// migrationLock is the key of the advisory lock held while migrating:
// the first 8 bytes of SHA-256("faceverify gateway schema") as a big-endian
// int64 (0xb5ecea6dec805598).
const migrationLock int64 = -5337633700500712040

// schema[i] brings the database from version i to i+1.
var schema = []string{`
CREATE TABLE tokens (
	hash       bytea PRIMARY KEY,
	kind       text NOT NULL,
	partner_id text NOT NULL,
	flow_id    text NOT NULL DEFAULT '',
	expires_at timestamptz NOT NULL
);
CREATE INDEX tokens_expires ON tokens (expires_at);

CREATE TABLE flows (
	id                   text COLLATE "C" PRIMARY KEY,
	partner_id           text NOT NULL,
	correlation_id       text NOT NULL,
	partner_user_id      text NOT NULL,
	partner_user_id_type text NOT NULL,
	kind                 text NOT NULL,
	status               text NOT NULL DEFAULT '',
	reason               text NOT NULL DEFAULT '',
	created_at           timestamptz,
	completed_at         timestamptz,
	CONSTRAINT flows_correlation_key UNIQUE (partner_id, correlation_id)
);

CREATE TABLE submissions (
	id                 text COLLATE "C" PRIMARY KEY,
	flow_id            text COLLATE "C" NOT NULL REFERENCES flows (id),
	attempt            integer NOT NULL,
	idempotency_key    text,
	fingerprint        bytea NOT NULL,
	device_id          text NOT NULL,
	device_liveness    double precision,
	device_live        boolean NOT NULL DEFAULT false,
	device_model       text NOT NULL DEFAULT '',
	captured_at        timestamptz,
	selfie             bytea,
	state              text NOT NULL,
	status             text NOT NULL,
	reason             text NOT NULL DEFAULT '',
	similarity         double precision,
	liveness           double precision,
	liveness_threshold double precision NOT NULL DEFAULT 0,
	match_threshold    double precision NOT NULL DEFAULT 0,
	submitted_at       timestamptz NOT NULL,
	processed_at       timestamptz,
	lease_owner        text NOT NULL DEFAULT '',
	lease_until        timestamptz NOT NULL DEFAULT '-infinity',
	claims             integer NOT NULL DEFAULT 0,
	CONSTRAINT submissions_attempt_key UNIQUE (flow_id, attempt),
	CONSTRAINT submissions_idempotency_key UNIQUE (flow_id, idempotency_key)
);
-- Only rows not yet done are ever claimed: keep them in a small index.
CREATE INDEX submissions_due ON submissions (submitted_at, id) WHERE state <> 'done';

CREATE TABLE callbacks (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	flow_id      text COLLATE "C" NOT NULL REFERENCES flows (id),
	partner_id   text NOT NULL,
	body         bytea NOT NULL,
	state        text NOT NULL,
	attempts     integer NOT NULL DEFAULT 0,
	next_at      timestamptz NOT NULL,
	last_error   text NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL,
	delivered_at timestamptz
);
CREATE INDEX callbacks_due ON callbacks (next_at, id) WHERE state = 'pending';

CREATE TABLE devices (
	id         text COLLATE "C" PRIMARY KEY,
	public_key bytea NOT NULL,
	label      text NOT NULL DEFAULT '',
	created_at timestamptz,
	revoked_at timestamptz
);
`, `
ALTER TABLE devices ADD COLUMN replaced_at timestamptz;
`, privacySchema, `
ALTER TABLE submissions ADD COLUMN detail text NOT NULL DEFAULT '';
`, replaySchema, callbacksSchema, userLocksSchema, referencesSchema}

// Open connects to the database named by dsn (a libpq URL or key=value
// string; pgxpool settings such as pool_max_conns are honoured) and brings
// its schema up to date. Errors never contain the password.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	return OpenConfig(ctx, cfg)
}

// OpenConfig is Open with a parsed pool configuration (e.g. with the
// password set from a secret). It checks the connection and migrates.
func OpenConfig(ctx context.Context, cfg *pgxpool.Config) (*Store, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	s := &Store{Statements: storesql.Statements{C: conn{pool}, D: dec}, pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	return s, nil
}

// Version is the schema version this package migrates to.
func Version() int { return len(schema) }

// migrate applies the missing schema versions in one transaction holding
// the migration advisory lock, so concurrent replicas wait rather than race.
func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("lock schema: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_version: %w", err)
		}
		var version int
		err := tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&version)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
				return fmt.Errorf("init schema_version: %w", err)
			}
		case err != nil:
			return fmt.Errorf("read schema version: %w", err)
		}
		for v := version; v < len(schema); v++ {
			if _, err := tx.Exec(ctx, schema[v]); err != nil {
				return fmt.Errorf("migrate schema to %d: %w", v+1, err)
			}
		}
		if version < len(schema) {
			if _, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1`, len(schema)); err != nil {
				return fmt.Errorf("record schema version: %w", err)
			}
		}
		return nil
	})
}

// Close closes every connection of the pool. It may be called more than
// once.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Pool is the underlying connection pool (for health checks and metrics).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// tx runs fn in a READ COMMITTED transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn)
}

// at is a non-null timestamp argument: UTC, truncated to microseconds.
func at(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// ts is a nullable timestamp argument: NULL for the zero time.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return at(t)
}

// dec decodes rows; pgx.ErrNoRows is gateway.ErrNotFound.
var dec = storesql.Decoder{NoRows: pgx.ErrNoRows}

// uniqueSentinels maps the schema's unique constraints to the store's
// errors. The statements avoid these violations (ON CONFLICT, row locks);
// the mapping keeps errors.Is working should one still surface.
var uniqueSentinels = map[string]error{
	"flows_correlation_key":       gateway.ErrCorrelationConflict,
	"submissions_idempotency_key": gateway.ErrIdempotencyConflict,
	"submissions_attempt_key":     gateway.ErrInProgress,
	"devices_pkey":                gateway.ErrDeviceConflict,
}

// mapErr wraps err as "op: err", as the matching sentinel when err is a
// unique violation of a constraint in uniqueSentinels.
func mapErr(op string, err error) error {
	return fmt.Errorf("%s: %w", op, sentinel(err))
}

// PutToken implements gateway.Store.
func (s *Store) PutToken(ctx context.Context, t gateway.Token) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO tokens (hash, kind, partner_id, flow_id, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			t.Hash[:], string(t.Kind), t.PartnerID, t.FlowID, at(t.ExpiresAt))
		if err != nil {
			return mapErr("insert token", err)
		}
		return storesql.ExtendFlow(ctx, conn{tx}, t)
	})
}

// LookupToken implements gateway.Store.
func (s *Store) LookupToken(ctx context.Context, hash [32]byte, now time.Time) (gateway.Token, error) {
	t := gateway.Token{Hash: hash}
	var kind string
	err := s.pool.QueryRow(ctx,
		`SELECT kind, partner_id, flow_id, expires_at FROM tokens WHERE hash = $1 AND expires_at > $2`,
		hash[:], at(now)).Scan(&kind, &t.PartnerID, &t.FlowID, &t.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.Token{}, gateway.ErrNotFound
	}
	if err != nil {
		return gateway.Token{}, fmt.Errorf("select token: %w", err)
	}
	t.Kind = gateway.TokenKind(kind)
	t.ExpiresAt = t.ExpiresAt.UTC()
	return t, nil
}

// CreateFlow implements gateway.Store. The insert is ON CONFLICT DO
// NOTHING: when a concurrent request opened the same correlation id first,
// its flow is read back and compared.
func (s *Store) CreateFlow(ctx context.Context, f gateway.Flow) (gateway.Flow, bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO flows (`+storesql.FlowCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT ON CONSTRAINT flows_correlation_key DO NOTHING`,
		f.ID, f.PartnerID, f.CorrelationID, f.PartnerUserID, f.PartnerUserIDType, f.Kind, f.Status, f.Reason,
		ts(f.CreatedAt), ts(f.CompletedAt), ts(f.ExpiresAt))
	if err != nil {
		return gateway.Flow{}, false, mapErr("insert flow", err)
	}
	if tag.RowsAffected() == 1 {
		f.CreatedAt, f.CompletedAt, f.ExpiresAt = truncate(f.CreatedAt), truncate(f.CompletedAt), truncate(f.ExpiresAt)
		return f, true, nil
	}
	old, err := s.FlowByCorrelation(ctx, f.PartnerID, f.CorrelationID)
	if err != nil {
		return gateway.Flow{}, false, fmt.Errorf("read existing flow: %w", err)
	}
	old, err = gateway.ReuseFlow(old, f)
	return old, false, err
}

// truncate is t as it reads back from the database.
func truncate(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return at(t)
}

// CreateSubmission implements gateway.Store, deciding with gateway.Admit.
// The flow row is locked first (FOR NO KEY UPDATE), so the checks and the
// insert of one flow's attempts are serialised across replicas.
func (s *Store) CreateSubmission(ctx context.Context, sub gateway.Submission, maxAttempts int) (gateway.Submission, bool, error) {
	var out gateway.Submission
	dup := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		out, dup, err = newAdmission(tx).Create(ctx, sub, maxAttempts)
		if err != nil || dup {
			return err
		}
		out.CapturedAt, out.SubmittedAt = truncate(out.CapturedAt), at(out.SubmittedAt)
		return nil
	})
	if err != nil {
		return gateway.Submission{}, false, err
	}
	return out, dup, nil
}

// admissionTx counts a flow's attempts for storesql.Admission in a
// transaction; FlowAttempts locks the flow row (FOR NO KEY UPDATE) until
// it ends.
type admissionTx struct{ tx pgx.Tx }

func newAdmission(tx pgx.Tx) storesql.Admission {
	return storesql.Admission{C: conn{tx}, D: dec, Attempts: admissionTx{tx}.FlowAttempts}
}

func (a admissionTx) FlowAttempts(ctx context.Context, flowID string) (gateway.FlowAttempts, error) {
	var f gateway.FlowAttempts
	err := a.tx.QueryRow(ctx, `SELECT status FROM flows WHERE id = $1 FOR NO KEY UPDATE`, flowID).Scan(&f.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, gateway.ErrNotFound
	}
	if err != nil {
		return f, fmt.Errorf("lock flow: %w", err)
	}
	if err := a.tx.QueryRow(ctx,
		`SELECT count(*), count(*) FILTER (WHERE state <> 'done') FROM submissions WHERE flow_id = $1`,
		flowID).Scan(&f.Attempts, &f.Open); err != nil {
		return f, fmt.Errorf("count submissions: %w", err)
	}
	return f, nil
}

// ClaimSubmission implements gateway.Store: one UPDATE over a
// FOR UPDATE SKIP LOCKED subquery, so concurrent claimers on any replica
// each take a different row without waiting for one another.
func (s *Store) ClaimSubmission(ctx context.Context, owner string, now, leaseUntil time.Time) (gateway.Submission, error) {
	var selfie []byte
	sub, err := dec.Submission(s.pool.QueryRow(ctx, `UPDATE submissions
		SET state = 'processing', lease_owner = $1, lease_until = $2, claims = claims + 1
		WHERE id = (SELECT id FROM submissions
			WHERE state <> 'done' AND lease_until <= $3
			ORDER BY submitted_at, id LIMIT 1
			FOR UPDATE SKIP LOCKED)
		RETURNING `+storesql.SubmissionCols+`, selfie`,
		owner, at(leaseUntil), at(now)), &selfie)
	if err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return gateway.Submission{}, err
		}
		return gateway.Submission{}, fmt.Errorf("claim submission: %w", err)
	}
	sub.Selfie = selfie
	return sub, nil
}

// CompleteSubmission implements gateway.Store.
func (s *Store) CompleteSubmission(ctx context.Context, r gateway.Result) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		var flowID, partnerID string
		err := tx.QueryRow(ctx, `UPDATE submissions s SET state = 'done', status = $1, reason = $2,
			similarity = $3, liveness = $4, liveness_threshold = $5, match_threshold = $6, processed_at = $7,
			selfie = NULL, lease_owner = '', lease_until = '-infinity', detail = $10
			FROM flows f
			WHERE s.id = $8 AND s.lease_owner = $9 AND s.state = 'processing' AND f.id = s.flow_id
			RETURNING s.flow_id, f.partner_id`,
			r.Status, r.Reason, r.Similarity, r.Liveness, r.LivenessThreshold, r.MatchThreshold, ts(r.ProcessedAt),
			r.SubmissionID, r.Owner, r.Detail).Scan(&flowID, &partnerID)
		if errors.Is(err, pgx.ErrNoRows) {
			return gateway.ErrLeaseLost
		}
		if err != nil {
			return fmt.Errorf("update submission: %w", err)
		}
		return storesql.CloseFlow(ctx, conn{tx}, r, flowID, partnerID)
	})
}

// ClaimCallback implements gateway.Store, with SKIP LOCKED as
// ClaimSubmission.
func (s *Store) ClaimCallback(ctx context.Context, now, leaseUntil time.Time) (gateway.CallbackJob, error) {
	j, err := dec.CallbackJob(s.pool.QueryRow(ctx, `UPDATE callbacks SET next_at = $1
		WHERE id = (SELECT id FROM callbacks WHERE state = 'pending' AND next_at <= $2
			ORDER BY next_at, id LIMIT 1
			FOR UPDATE SKIP LOCKED)
		RETURNING `+storesql.CallbackJobCols, at(leaseUntil), at(now)))
	if err != nil && !errors.Is(err, gateway.ErrNotFound) {
		return gateway.CallbackJob{}, fmt.Errorf("claim callback: %w", err)
	}
	return j, err
}
