package pgstore

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/storesql"
)

// AddDevice implements gateway.DeviceRegistry. The insert is ON CONFLICT
// DO NOTHING; an id already present is read back and compared.
func (s *Store) AddDevice(ctx context.Context, d gateway.Device) (gateway.Device, bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO devices (`+storesql.DeviceCols+`) VALUES ($1, $2, $3, $4, NULL, NULL)
		ON CONFLICT (id) DO NOTHING`, d.ID, []byte(d.PublicKey), d.Label, ts(d.CreatedAt))
	if err != nil {
		return gateway.Device{}, false, mapErr("insert device", err)
	}
	if tag.RowsAffected() == 1 {
		d.CreatedAt = truncate(d.CreatedAt)
		return gateway.RegisteredDevice(d), true, nil
	}
	old, err := s.DeviceByID(ctx, d.ID)
	if err != nil {
		return gateway.Device{}, false, fmt.Errorf("read existing device: %w", err)
	}
	old, err = gateway.ReRegisterDevice(old, d)
	return old, false, err
}

// RevokeDevice implements gateway.DeviceRegistry; the first revocation
// time is kept.
func (s *Store) RevokeDevice(ctx context.Context, id string, t time.Time) (gateway.Device, error) {
	return dec.Device(s.pool.QueryRow(ctx, `UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2
		RETURNING `+storesql.DeviceCols, at(t), id))
}

// ReplaceDevice implements gateway.DeviceRegistry.
func (s *Store) ReplaceDevice(ctx context.Context, id string, key ed25519.PublicKey, t time.Time) (gateway.Device, error) {
	return dec.Device(s.pool.QueryRow(ctx, `UPDATE devices SET public_key = $1, revoked_at = NULL, replaced_at = $2 WHERE id = $3
		RETURNING `+storesql.DeviceCols, []byte(key), at(t), id))
}
