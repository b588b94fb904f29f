package sigctx

import (
	"bytes"
	"sync"
	"syscall"
	"testing"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestFirstSignalCancelsSecondAborts(t *testing.T) {
	var out lockedBuffer
	exited := make(chan int, 1)
	ctx, stop := notify("faced", &out, func(code int) { exited <- code })
	defer stop()
	if ctx.Err() != nil {
		t.Fatal("context cancelled before any signal")
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	select {
	case code := <-exited:
		t.Fatalf("exit(%d) after the first signal", code)
	default:
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := <-exited; code != AbortStatus {
		t.Errorf("exit status %d, want %d", code, AbortStatus)
	}
	if got, want := out.String(), "faced: second interrupt, aborting\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}

func TestStopCancels(t *testing.T) {
	ctx, stop := notify("faced", &lockedBuffer{}, func(int) { t.Error("exit called") })
	stop()
	<-ctx.Done()
}
