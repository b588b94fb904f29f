package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/storesql"
)

// auditLock is the key of the advisory lock held while appending to the
// audit log, so appenders on every replica form one chain: the first 8
// bytes of SHA-256("faceverify audit log") as a big-endian int64.
const auditLock int64 = 8478607648039504415 // 0x75aa10bbfb4e0a1f

// privacySchema is the schema version that adds the indexes erasure and
// retention look rows up by, and the append-only audit log: triggers
// refuse UPDATE, DELETE, TRUNCATE and any INSERT but the next seq.
const privacySchema = `
CREATE INDEX flows_user ON flows (partner_id, partner_user_id, partner_user_id_type);
CREATE INDEX tokens_flow ON tokens (flow_id);
CREATE INDEX callbacks_flow ON callbacks (flow_id);
CREATE TABLE audit_log (
	seq       bigint PRIMARY KEY,
	at        timestamptz NOT NULL,
	actor     text NOT NULL,
	action    text NOT NULL,
	subject   text NOT NULL DEFAULT '',
	detail    text NOT NULL DEFAULT '',
	prev_hash bytea NOT NULL,
	hash      bytea NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE FUNCTION audit_log_next_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.seq <> COALESCE((SELECT max(seq) FROM audit_log), 0) + 1 THEN
		RAISE EXCEPTION 'audit_log is append-only: seq must follow the last row';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER audit_log_append BEFORE INSERT ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_next_seq();
`

// eraseFlows deletes the flows with the given ids (locked by the caller)
// and every row that refers to them, children first.
func eraseFlows(ctx context.Context, tx pgx.Tx, ids []string) (gateway.Erased, error) {
	var e gateway.Erased
	if len(ids) == 0 {
		return e, nil
	}
	for _, st := range []struct {
		sql string
		n   *int64
	}{
		{`DELETE FROM callbacks WHERE flow_id = ANY($1)`, &e.Callbacks},
		{`DELETE FROM submissions WHERE flow_id = ANY($1)`, &e.Submissions},
		{`DELETE FROM tokens WHERE flow_id = ANY($1)`, &e.Tokens},
		{`DELETE FROM flows WHERE id = ANY($1)`, &e.Flows},
	} {
		tag, err := tx.Exec(ctx, st.sql, ids)
		if err != nil {
			return gateway.Erased{}, err
		}
		*st.n = tag.RowsAffected()
	}
	return e, nil
}

// lockFlows locks the flows a query selects (FOR UPDATE, so a concurrent
// CreateSubmission, which locks its flow first, is either committed
// before and its row erased too, or waits and then finds no flow) and
// returns their ids.
func lockFlows(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// EraseUser implements gateway.Store.
func (s *Store) EraseUser(ctx context.Context, partnerID, idType, userID string) (gateway.Erased, error) {
	var e gateway.Erased
	err := s.tx(ctx, func(tx pgx.Tx) error {
		ids, err := lockFlows(ctx, tx, `SELECT id FROM flows
			WHERE partner_id = $1 AND partner_user_id_type = $2 AND partner_user_id = $3 FOR UPDATE`, partnerID, idType, userID)
		if err != nil {
			return err
		}
		if err := eraseReplayHashes(ctx, tx, ids); err != nil {
			return err
		}
		e, err = eraseFlows(ctx, tx, ids)
		return err
	})
	if err != nil {
		return gateway.Erased{}, fmt.Errorf("erase user: %w", err)
	}
	return e, nil
}

// Purge implements gateway.Store. Flows are taken FOR UPDATE SKIP LOCKED,
// so replicas purging at once each delete different flows.
func (s *Store) Purge(ctx context.Context, p gateway.PurgePolicy) (gateway.Erased, error) {
	var e gateway.Erased
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if !p.FlowsBefore.IsZero() {
			ids, err := lockFlows(ctx, tx, `SELECT id FROM flows WHERE COALESCE(completed_at, created_at) < $1
				ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, at(p.FlowsBefore), max(p.Limit, 1))
			if err != nil {
				return err
			}
			if e, err = eraseFlows(ctx, tx, ids); err != nil {
				return err
			}
		}
		if !p.CallbackBodiesBefore.IsZero() {
			tag, err := tx.Exec(ctx, `UPDATE callbacks SET body = '\x'::bytea WHERE id IN (
				SELECT id FROM callbacks WHERE length(body) > 0 AND (
					(state = 'delivered' AND delivered_at < $1) OR (state = 'failed' AND next_at < $1))
				FOR UPDATE SKIP LOCKED)`, at(p.CallbackBodiesBefore))
			if err != nil {
				return err
			}
			e.CallbackBodies = tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return gateway.Erased{}, fmt.Errorf("purge: %w", err)
	}
	return e, nil
}

// AppendAudit implements gateway.Store, under the audit advisory lock.
func (s *Store) AppendAudit(ctx context.Context, key gateway.AuditKey, e gateway.AuditEntry) (gateway.AuditEntry, error) {
	var out gateway.AuditEntry
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, auditLock); err != nil {
			return fmt.Errorf("lock audit log: %w", err)
		}
		var err error
		out, err = storesql.AppendAudit(ctx, conn{tx}, key, e, pgx.ErrNoRows)
		return err
	})
	if err != nil {
		return gateway.AuditEntry{}, fmt.Errorf("append audit: %w", err)
	}
	return out, nil
}

// auditGuards are the audit log's append-only triggers and the function
// each runs, as privacySchema creates them.
var auditGuards = []struct{ trigger, function string }{
	{"audit_log_no_change", "audit_log_append_only"},
	{"audit_log_no_truncate", "audit_log_append_only"},
	{"audit_log_append", "audit_log_next_seq"},
}

// auditFunctionSource is the body of each guard function in privacySchema
// (whitespace-normalised).
var auditFunctionSource = func() map[string]string {
	m := map[string]string{}
	for _, part := range strings.Split(privacySchema, "CREATE FUNCTION ")[1:] {
		name := part[:strings.Index(part, "(")]
		body := part[strings.Index(part, "$$")+2:]
		m[name] = strings.Join(strings.Fields(body[:strings.Index(body, "$$")]), " ")
	}
	return m
}()

// CheckAuditGuards implements gateway.Store: each trigger of auditGuards
// exists on audit_log, is enabled (not ALTER TABLE … DISABLE TRIGGER), runs
// its function, and the function's source is the schema's.
func (s *Store) CheckAuditGuards(ctx context.Context) error {
	for _, g := range auditGuards {
		var enabled, fn, src string
		err := s.pool.QueryRow(ctx, `SELECT t.tgenabled::text, p.proname::text, p.prosrc
			FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
			WHERE t.tgrelid = 'audit_log'::regclass AND t.tgname = $1 AND NOT t.tgisinternal`, g.trigger).Scan(&enabled, &fn, &src)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("%w: trigger %s is missing", gateway.ErrAuditUnguarded, g.trigger)
		case err != nil:
			return fmt.Errorf("read audit triggers: %w", err)
		case enabled == "D":
			return fmt.Errorf("%w: trigger %s is disabled", gateway.ErrAuditUnguarded, g.trigger)
		case fn != g.function || strings.Join(strings.Fields(src), " ") != auditFunctionSource[g.function]:
			return fmt.Errorf("%w: trigger %s runs an altered function", gateway.ErrAuditUnguarded, g.trigger)
		}
	}
	return nil
}
