package pgstore

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/faceverify/faceverify/gateway"
)

func TestMapErr(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		want       error // sentinel, or nil for none
		wantUnique bool  // the PgError stays reachable with errors.As
	}{
		{"correlation", &pgconn.PgError{Code: "23505", ConstraintName: "flows_correlation_key"}, gateway.ErrCorrelationConflict, true},
		{"idempotency", &pgconn.PgError{Code: "23505", ConstraintName: "submissions_idempotency_key"}, gateway.ErrIdempotencyConflict, true},
		{"attempt", &pgconn.PgError{Code: "23505", ConstraintName: "submissions_attempt_key"}, gateway.ErrInProgress, true},
		{"device", &pgconn.PgError{Code: "23505", ConstraintName: "devices_pkey"}, gateway.ErrDeviceConflict, true},
		{"wrapped", fmt.Errorf("exec: %w", &pgconn.PgError{Code: "23505", ConstraintName: "devices_pkey"}), gateway.ErrDeviceConflict, true},
		{"other constraint", &pgconn.PgError{Code: "23505", ConstraintName: "tokens_pkey"}, nil, true},
		{"not unique", &pgconn.PgError{Code: "23503", ConstraintName: "flows_correlation_key"}, nil, true},
		{"not postgres", errors.New("boom"), nil, false},
	}
	sentinels := []error{gateway.ErrCorrelationConflict, gateway.ErrIdempotencyConflict, gateway.ErrInProgress, gateway.ErrDeviceConflict}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapErr("op", tt.err)
			for _, s := range sentinels {
				if errors.Is(got, s) != (s == tt.want) {
					t.Errorf("errors.Is(%v, %v) = %v", got, s, errors.Is(got, s))
				}
			}
			var pe *pgconn.PgError
			if errors.As(got, &pe) != tt.wantUnique {
				t.Errorf("errors.As(%v, *PgError) = %v", got, !tt.wantUnique)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("%v does not wrap the cause", got)
			}
		})
	}
}

// TestMigrationLockKey: the advisory lock key is the documented hash.
func TestMigrationLockKey(t *testing.T) {
	sum := sha256.Sum256([]byte("faceverify gateway schema"))
	if got := int64(binary.BigEndian.Uint64(sum[:8])); got != migrationLock {
		t.Errorf("migrationLock = %d, SHA-256 prefix is %d", migrationLock, got)
	}
}
