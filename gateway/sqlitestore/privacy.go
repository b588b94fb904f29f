package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/storesql"
)

// FileMode is the mode of the database file and of its -wal and -shm
// files (SQLite creates those with the database file's mode), set on
// every Open whatever the umask.
const FileMode fs.FileMode = 0o600

// privacySchema is the schema version that adds the indexes erasure and
// retention look rows up by, and the append-only audit log: triggers
// refuse UPDATE and DELETE of its rows, and any INSERT but the next seq
// (so INSERT OR REPLACE, which skips delete triggers, cannot overwrite).
const privacySchema = `
CREATE INDEX flows_user ON flows(partner_id, partner_user_id, partner_user_id_type);
CREATE INDEX tokens_flow ON tokens(flow_id);
CREATE INDEX callbacks_flow ON callbacks(flow_id);
CREATE TABLE audit_log (
	seq       INTEGER PRIMARY KEY,
	at        INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	subject   TEXT NOT NULL DEFAULT '',
	detail    TEXT NOT NULL DEFAULT '',
	prev_hash BLOB NOT NULL,
	hash      BLOB NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_append BEFORE INSERT ON audit_log
WHEN NEW.seq <> COALESCE((SELECT MAX(seq) FROM audit_log), 0) + 1
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: seq must follow the last row'); END;
`

// createPrivate creates the database file with FileMode if it does not
// exist and sets the mode of an existing one (umask-independent).
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return err
	}
	f.Close()
	return os.Chmod(path, FileMode)
}

// checkModes sets the database file, -wal and -shm (those present) to
// FileMode and checks that they read back so.
func checkModes(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if st.Mode().Perm() == FileMode {
			continue
		}
		if err := os.Chmod(p, FileMode); err != nil {
			return err
		}
		if st, err = os.Stat(p); err != nil {
			return err
		}
		if st.Mode().Perm() != FileMode {
			return fmt.Errorf("%s: mode %v after chmod, want %v", p, st.Mode().Perm(), FileMode)
		}
	}
	return nil
}

// truncateWAL copies the WAL into the database and truncates it to zero
// bytes, so deleted rows (zeroed in the database by secure_delete) do not
// linger in the WAL file either. It is best effort: a checkpoint that
// readers block is left for the next one.
func (s *Store) truncateWAL(ctx context.Context) {
	var busy, logged, done int
	s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &done)
}

// userFlows selects the flows of one partner user.
const userFlows = `SELECT id FROM flows WHERE partner_id = ? AND partner_user_id_type = ? AND partner_user_id = ?`

// EraseUser implements gateway.Store.
func (s *Store) EraseUser(ctx context.Context, partnerID, idType, userID string) (gateway.Erased, error) {
	var e gateway.Erased
	err := s.tx(ctx, func(tx prepTx) error {
		if err := eraseReplayHashes(ctx, tx, userFlows, partnerID, idType, userID); err != nil {
			return err
		}
		var err error
		e, err = eraseFlows(ctx, tx, userFlows, partnerID, idType, userID)
		return err
	})
	if err != nil {
		return gateway.Erased{}, fmt.Errorf("erase user: %w", err)
	}
	if !e.Zero() {
		s.truncateWAL(ctx)
	}
	return e, nil
}

// eraseFlows deletes the flows selected by the query flowIDs (with args)
// and every row that refers to them, children first.
func eraseFlows(ctx context.Context, tx prepTx, flowIDs string, args ...any) (gateway.Erased, error) {
	var e gateway.Erased
	for _, st := range []struct {
		sql string
		n   *int64
	}{
		{`DELETE FROM callbacks WHERE flow_id IN (` + flowIDs + `)`, &e.Callbacks},
		{`DELETE FROM submissions WHERE flow_id IN (` + flowIDs + `)`, &e.Submissions},
		{`DELETE FROM tokens WHERE flow_id <> '' AND flow_id IN (` + flowIDs + `)`, &e.Tokens},
		{`DELETE FROM flows WHERE id IN (` + flowIDs + `)`, &e.Flows},
	} {
		res, err := tx.ExecContext(ctx, st.sql, args...)
		if err != nil {
			return gateway.Erased{}, err
		}
		if *st.n, err = res.RowsAffected(); err != nil {
			return gateway.Erased{}, err
		}
	}
	return e, nil
}

// Purge implements gateway.Store.
func (s *Store) Purge(ctx context.Context, p gateway.PurgePolicy) (gateway.Erased, error) {
	var e gateway.Erased
	err := s.tx(ctx, func(tx prepTx) error {
		if !p.FlowsBefore.IsZero() {
			var err error
			e, err = eraseFlows(ctx, tx, `SELECT id FROM flows WHERE COALESCE(completed_at, created_at) < ? ORDER BY id LIMIT ?`,
				p.FlowsBefore.UnixMicro(), max(p.Limit, 1))
			if err != nil {
				return err
			}
		}
		if !p.CallbackBodiesBefore.IsZero() {
			res, err := tx.ExecContext(ctx, `UPDATE callbacks SET body = x'' WHERE length(body) > 0 AND (
				(state = 'delivered' AND delivered_at < ?) OR (state = 'failed' AND next_at < ?))`,
				p.CallbackBodiesBefore.UnixMicro(), p.CallbackBodiesBefore.UnixMicro())
			if err != nil {
				return err
			}
			if e.CallbackBodies, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return gateway.Erased{}, fmt.Errorf("purge: %w", err)
	}
	if !e.Zero() {
		s.truncateWAL(ctx)
	}
	return e, nil
}

// AppendAudit implements gateway.Store. The write transaction (BEGIN
// IMMEDIATE) serialises appenders, so the chain has one order.
func (s *Store) AppendAudit(ctx context.Context, key gateway.AuditKey, e gateway.AuditEntry) (gateway.AuditEntry, error) {
	var out gateway.AuditEntry
	err := s.tx(ctx, func(tx prepTx) error {
		var err error
		out, err = storesql.AppendAudit(ctx, conn{tx}, key, e, sql.ErrNoRows)
		return err
	})
	if err != nil {
		return gateway.AuditEntry{}, fmt.Errorf("append audit: %w", err)
	}
	return out, nil
}

// auditTriggers are the audit log's append-only triggers, by name, with
// their SQL as privacySchema creates it (whitespace-normalised).
var auditTriggers = func() map[string]string {
	m := map[string]string{}
	for _, stmt := range strings.Split(privacySchema, "END;") {
		i := strings.Index(stmt, "CREATE TRIGGER ")
		if i < 0 {
			continue
		}
		sql := normalizeSQL(stmt[i:] + "END")
		m[strings.Fields(sql)[2]] = sql
	}
	return m
}()

func normalizeSQL(s string) string { return strings.Join(strings.Fields(s), " ") }

// CheckAuditGuards implements gateway.Store: every trigger of
// auditTriggers is in sqlite_master with the SQL it was created with.
func (s *Store) CheckAuditGuards(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'`)
	if err != nil {
		return fmt.Errorf("read audit triggers: %w", err)
	}
	defer rows.Close()
	have := map[string]string{}
	for rows.Next() {
		var name, sql string
		if err := rows.Scan(&name, &sql); err != nil {
			return fmt.Errorf("read audit triggers: %w", err)
		}
		have[name] = normalizeSQL(sql)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read audit triggers: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(auditTriggers)) {
		got, ok := have[name]
		switch {
		case !ok:
			return fmt.Errorf("%w: trigger %s is missing", gateway.ErrAuditUnguarded, name)
		case got != auditTriggers[name]:
			return fmt.Errorf("%w: trigger %s was altered", gateway.ErrAuditUnguarded, name)
		}
	}
	return nil
}
