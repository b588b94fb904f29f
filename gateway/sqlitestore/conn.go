package sqlitestore

import (
	"context"
	"database/sql"
	"time"

	"github.com/faceverify/faceverify/gateway/storesql"
)

// conn is storesql.Conn over a prepDB or prepTx: "?" placeholders as
// they are, time.Time arguments as Unix microseconds.
type conn struct {
	q interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}
}

var _ storesql.Conn = conn{}

func encode(args []any) []any { return storesql.EncodeTimes(args, timeArg) }

// timeArg is a time as the columns hold it: Unix microseconds.
func timeArg(t time.Time) any { return t.UnixMicro() }

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.q.ExecContext(ctx, query, encode(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) storesql.Row {
	return c.q.QueryRowContext(ctx, query, encode(args)...)
}

func (c conn) Query(ctx context.Context, query string, args ...any) (storesql.ResultSet, error) {
	rows, err := c.q.QueryContext(ctx, query, encode(args)...)
	if err != nil {
		return nil, err
	}
	return resultSet{rows}, nil
}

// resultSet is *sql.Rows with the error of Close dropped (Err reports
// the iteration's).
type resultSet struct{ *sql.Rows }

func (r resultSet) Close() { r.Rows.Close() }
