package sqlitestore

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/storesql"
)

var _ gateway.DeviceRegistry = (*Store)(nil)

// devicesSchema is schema version 2: the device registry.
const devicesSchema = `
CREATE TABLE devices (
	id         TEXT PRIMARY KEY,
	public_key BLOB NOT NULL,
	label      TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
);
`

// devicesReplacedSchema is schema version 3: when a device's key was last
// replaced by an operator.
const devicesReplacedSchema = `ALTER TABLE devices ADD COLUMN replaced_at INTEGER;`

// AddDevice implements gateway.DeviceRegistry.
func (s *Store) AddDevice(ctx context.Context, d gateway.Device) (gateway.Device, bool, error) {
	var out gateway.Device
	created := false
	err := s.tx(ctx, func(tx prepTx) error {
		old, err := dec.Device(tx.QueryRowContext(ctx, `SELECT `+storesql.DeviceCols+` FROM devices WHERE id = ?`, d.ID))
		switch {
		case err == nil:
			out, err = gateway.ReRegisterDevice(old, d)
			return err
		case !errors.Is(err, gateway.ErrNotFound):
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO devices (`+storesql.DeviceCols+`) VALUES (?, ?, ?, ?, NULL, NULL)`,
			d.ID, []byte(d.PublicKey), d.Label, ts(d.CreatedAt)); err != nil {
			return fmt.Errorf("insert device: %w", err)
		}
		out, created = gateway.RegisteredDevice(d), true
		return nil
	})
	if err != nil {
		return gateway.Device{}, false, err
	}
	return out, created, nil
}

// RevokeDevice implements gateway.DeviceRegistry.
func (s *Store) RevokeDevice(ctx context.Context, id string, at time.Time) (gateway.Device, error) {
	var out gateway.Device
	err := s.tx(ctx, func(tx prepTx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, ts(at), id); err != nil {
			return fmt.Errorf("revoke device: %w", err)
		}
		var err error
		out, err = dec.Device(tx.QueryRowContext(ctx, `SELECT `+storesql.DeviceCols+` FROM devices WHERE id = ?`, id))
		return err
	})
	return out, err
}

// ReplaceDevice implements gateway.DeviceRegistry.
func (s *Store) ReplaceDevice(ctx context.Context, id string, key ed25519.PublicKey, at time.Time) (gateway.Device, error) {
	var out gateway.Device
	err := s.tx(ctx, func(tx prepTx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET public_key = ?, revoked_at = NULL, replaced_at = ? WHERE id = ?`,
			[]byte(key), ts(at), id); err != nil {
			return fmt.Errorf("replace device key: %w", err)
		}
		var err error
		out, err = dec.Device(tx.QueryRowContext(ctx, `SELECT `+storesql.DeviceCols+` FROM devices WHERE id = ?`, id))
		return err
	})
	return out, err
}
