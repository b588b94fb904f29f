package mqtt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/mqttapi"
)

// TestClientNoncesSurviveRestart: a Client with a state dir refuses, after
// a restart, a command it ran before.
func TestClientNoncesSurviveRestart(t *testing.T) {
	state := t.TempDir()
	opts := testOptions("tcp://127.0.0.1:1", "kiosk-nonce", "fv")
	opts.StateDir = state
	c1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	topic := c1.CommandTopic(mqttapi.CmdIdentify)
	p, err := mqttapi.SignCommand(testSecret, topic, "r1", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c1.verifier.Verify(topic, p); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	if _, err := os.Stat(filepath.Join(state, "kiosk-nonce", mqttapi.NonceFile)); err != nil {
		t.Fatalf("nonce file: %v", err)
	}
	c2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c2.verifier.Verify(topic, p); !errors.Is(err, mqttapi.ErrReplayed) {
		t.Errorf("replay after the restart: err = %v, want ErrReplayed", err)
	}
}

// TestOpenOutboxRemovesStrayTempFiles: temporary files of writes cut short
// are removed from the state dir (sequence and nonce files) and from the
// outbox; other files stay.
func TestOpenOutboxRemovesStrayTempFiles(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, outboxDir), 0o700)
	strays := []string{
		filepath.Join(dir, ".tmp-123456"),
		filepath.Join(dir, ".tmp-seq-cut"),
		filepath.Join(dir, outboxDir, ".tmp-789"),
	}
	keep := []string{filepath.Join(dir, "install-id"), filepath.Join(dir, mqttapi.NonceFile)}
	for _, p := range append(append([]string{}, strays...), keep...) {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := openOutbox(dir, 10, quietLogger()); err != nil {
		t.Fatal(err)
	}
	for _, p := range strays {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (err %v)", strings.TrimPrefix(p, dir), err)
		}
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", strings.TrimPrefix(p, dir), err)
		}
	}
}
