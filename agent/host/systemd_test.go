package host

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// notifySocket listens on a unixgram socket like systemd's and returns
// the received messages on a channel.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdnotify") // short path: sun_path is 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	msgs := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return path, msgs
}

func recv(t *testing.T, msgs <-chan string) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no sd_notify message")
		return ""
	}
}

func noMessage(t *testing.T, msgs <-chan string) {
	t.Helper()
	select {
	case m := <-msgs:
		t.Fatalf("unexpected sd_notify message %q", m)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestSystemdNotifyProtocol(t *testing.T) {
	path, msgs := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "20000000") // WatchdogSec=20s
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	s := NewSystemd(slog.New(slog.DiscardHandler))
	if got := s.WatchdogInterval(); got != 10*time.Second {
		t.Fatalf("WatchdogInterval = %v, want 10s (half of WatchdogSec)", got)
	}
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }

	s.Ready("serving; camera /dev/video0\nsecond line")
	if m := recv(t, msgs); m != "READY=1\nSTATUS=serving; camera /dev/video0 second line" {
		t.Fatalf("ready message = %q", m)
	}
	s.Alive()
	if m := recv(t, msgs); m != "WATCHDOG=1" {
		t.Fatalf("first ping = %q", m)
	}
	// Pings are rate-limited to a quarter of the timeout (5s).
	now = now.Add(4 * time.Second)
	s.Alive()
	noMessage(t, msgs)
	now = now.Add(time.Second)
	s.Alive()
	if m := recv(t, msgs); m != "WATCHDOG=1" {
		t.Fatalf("ping after 5s = %q", m)
	}
	s.Stopping()
	if m := recv(t, msgs); m != "STOPPING=1" {
		t.Fatalf("stopping message = %q", m)
	}
}

func TestSystemdWatchdogForAnotherPID(t *testing.T) {
	path, msgs := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "20000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1)) // meant for another process
	s := NewSystemd(slog.New(slog.DiscardHandler))
	if got := s.WatchdogInterval(); got != 0 {
		t.Fatalf("WatchdogInterval = %v, want 0 when WATCHDOG_PID is another process", got)
	}
	s.Alive()
	noMessage(t, msgs)
}

func TestSystemdOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	os.Unsetenv("NOTIFY_SOCKET")
	os.Unsetenv("WATCHDOG_USEC")
	s := NewSystemd(slog.New(slog.DiscardHandler))
	if s.WatchdogInterval() != 0 {
		t.Fatal("watchdog on without WATCHDOG_USEC")
	}
	s.Ready("x") // no socket: no-op, no panic
	s.Alive()
	s.Stopping()
}
