package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/faceverify/faceverify/gateway/storesql"
)

// conn is storesql.Conn over the pool or a pgx.Tx: "?" placeholders
// rebound to "$n", time.Time arguments in UTC truncated to microseconds,
// unique violations of uniqueSentinels attached to the error as their
// sentinel.
type conn struct {
	q interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
		Query(context.Context, string, ...any) (pgx.Rows, error)
		QueryRow(context.Context, string, ...any) pgx.Row
	}
}

var _ storesql.Conn = conn{}

func encode(args []any) []any { return storesql.EncodeTimes(args, timeArg) }

// timeArg is a time as the columns hold it (see at).
func timeArg(t time.Time) any { return at(t) }

// sentinel attaches the sentinel of a unique violation in uniqueSentinels.
func sentinel(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		if s, ok := uniqueSentinels[pe.ConstraintName]; ok {
			return fmt.Errorf("%w (%w)", s, err)
		}
	}
	return err
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.q.Exec(ctx, storesql.Rebind(query), encode(args)...)
	if err != nil {
		return 0, sentinel(err)
	}
	return tag.RowsAffected(), nil
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) storesql.Row {
	return c.q.QueryRow(ctx, storesql.Rebind(query), encode(args)...)
}

func (c conn) Query(ctx context.Context, query string, args ...any) (storesql.ResultSet, error) {
	rows, err := c.q.Query(ctx, storesql.Rebind(query), encode(args)...)
	if err != nil {
		return nil, sentinel(err)
	}
	return rows, nil
}
