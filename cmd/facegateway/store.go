package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/pgstore"
	"github.com/faceverify/faceverify/gateway/sqlitestore"
)

// gatewayStore is what the commands need from the database: the gateway's
// state and the device registry. Both backends provide both.
type gatewayStore interface {
	gateway.Store
	gateway.DeviceRegistry
}

// openStore opens the database of a validated [database] table (secrets
// resolved): the SQLite file, or a PostgreSQL pool with db.Password, when
// set, replacing any password of the DSN. Errors never quote the DSN.
func openStore(ctx context.Context, db gateway.DatabaseConfig) (gatewayStore, error) {
	switch db.Driver {
	case gateway.DriverSQLite:
		return sqlitestore.Open(ctx, db.Path)
	case gateway.DriverPostgres:
		cfg, err := pgxpool.ParseConfig(db.DSN)
		if err != nil {
			return nil, fmt.Errorf("database.dsn: %w", err)
		}
		if db.Password != "" {
			cfg.ConnConfig.Password = db.Password
		}
		return pgstore.OpenConfig(ctx, cfg)
	default:
		return nil, fmt.Errorf("database.driver: unknown driver %q", db.Driver)
	}
}
