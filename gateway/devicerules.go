package gateway

import (
	"bytes"
	"time"
)

// RegisteredDevice is d as a DeviceRegistry first stores it: registered at
// d.CreatedAt, neither revoked nor replaced whatever the caller set.
func RegisteredDevice(d Device) Device {
	d.RevokedAt, d.ReplacedAt = time.Time{}, time.Time{}
	return d
}

// ReRegisterDevice decides AddDevice for an id already registered: stored
// is the device found under d.ID. A revoked id is ErrDeviceRevoked (even
// with the same key: only an operator lifts a revocation); another public
// key is ErrDeviceOtherKey; the same key gets stored back unchanged (a
// kiosk enrolling again after a restart). Both errors match
// ErrDeviceConflict.
func ReRegisterDevice(stored, d Device) (Device, error) {
	if stored.Revoked() {
		return Device{}, ErrDeviceRevoked
	}
	if !bytes.Equal(stored.PublicKey, d.PublicKey) {
		return Device{}, ErrDeviceOtherKey
	}
	return stored, nil
}
