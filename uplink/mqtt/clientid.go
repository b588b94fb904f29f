package mqtt

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultMachineIDPath is the systemd machine id, regenerated on the first
// boot of an image whose /etc/machine-id was emptied (the documented way to
// prepare an image for cloning).
const DefaultMachineIDPath = "/etc/machine-id"

const installIDFile = "install-id"

// ClientID returns the default MQTT client id of deviceID:
// "faceagent-<device_id>-<8 hex>", where the suffix is the first 4 bytes
// of SHA-256(install id, machine id).
//
// The install id is 16 random bytes created once in stateDir/install-id.
// A cloned image clones that file too, so the machine id (read from
// machineIDPath; skipped when unreadable) is mixed in: two clones differ
// as soon as either their install ids or their machine ids differ, and
// since a broker disconnects the older of two clients with one id, two
// kiosks sharing an id would kick each other off in a loop. The id is
// stable across restarts, which a persistent session (clean session off)
// needs. With stateDir empty the suffix is random per process: the session
// then does not survive a restart.
func ClientID(deviceID, stateDir, machineIDPath string) (string, error) {
	h := sha256.New()
	if stateDir == "" {
		b := make([]byte, 16)
		rand.Read(b)
		h.Write(b)
	} else {
		id, err := installID(stateDir)
		if err != nil {
			return "", err
		}
		h.Write([]byte(id))
	}
	h.Write([]byte{'\n'})
	if machineIDPath != "" {
		if b, err := os.ReadFile(machineIDPath); err == nil {
			h.Write([]byte(strings.TrimSpace(string(b))))
		}
	}
	return "faceagent-" + deviceID + "-" + hex.EncodeToString(h.Sum(nil)[:4]), nil
}

// installID reads stateDir/install-id, creating it when missing.
func installID(stateDir string) (string, error) {
	path := filepath.Join(stateDir, installIDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(b)); len(s) >= 16 {
			return s, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("mqtt install id: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return "", fmt.Errorf("mqtt install id: %w", err)
	}
	r := make([]byte, 16)
	rand.Read(r)
	id := hex.EncodeToString(r)
	if err := writeFileAtomic(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("mqtt install id: %w", err)
	}
	return id, nil
}
