package sqlitestore

import (
	"context"
	"database/sql"
	"sync"
)

// maxPrepared bounds the query texts a Store keeps prepared. The store's
// statements are a few dozen fixed texts; the few built at run time (the
// replay band query, IN lists) have one text per argument count. A text
// seen after the bound is reached runs unprepared, as every query did
// before.
const maxPrepared = 256

// stmtCache keeps each query text prepared once per Store, so that SQLite
// parses and plans it once per connection instead of on every call
// (modernc.org/sqlite keeps no statement cache of its own). database/sql
// prepares a *sql.Stmt lazily on each pooled connection it runs on and
// keeps it there.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

// lookup returns query's kept statement, or nil.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

// stmt returns query prepared, or nil when the cache is full or preparing
// failed: the caller then runs query unprepared, which reports the error.
// Preparing takes a connection from the pool: it must not be called while
// the caller holds one (a transaction), or every connection may be held
// by callers waiting for the write lock that caller holds.
func (c *stmtCache) stmt(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxPrepared
	c.mu.Unlock()
	if ok {
		return st
	}
	if full {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[query]; ok { // prepared meanwhile by another call
		st.Close()
		return old
	}
	if len(c.m) >= maxPrepared {
		st.Close()
		return nil
	}
	c.m[query] = st
	return st
}

// len is the number of query texts kept prepared.
func (c *stmtCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// close closes every statement kept.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// prepDB is the database handle whose queries use the cache.
type prepDB struct {
	*sql.DB
	c *stmtCache
}

func (d prepDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := d.c.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return d.DB.ExecContext(ctx, query, args...)
}

func (d prepDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := d.c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, query, args...)
}

func (d prepDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := d.c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, query, args...)
}

// prepTx is a transaction whose queries use the cache: Tx.StmtContext
// runs a kept statement on the transaction's connection, prepared there
// once. A query not kept yet runs unprepared and is noted in missed, for
// Store.tx to prepare once the transaction has ended (see stmtCache.stmt).
type prepTx struct {
	*sql.Tx
	c      *stmtCache
	missed *[]string
}

// kept returns query's kept statement, or nil after noting it as missed.
func (t prepTx) kept(query string) *sql.Stmt {
	st := t.c.lookup(query)
	if st == nil && t.missed != nil {
		*t.missed = append(*t.missed, query)
	}
	return st
}

func (t prepTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.kept(query); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t prepTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.kept(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t prepTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.kept(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
