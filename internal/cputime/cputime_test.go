package cputime

import (
	"runtime"
	"testing"
)

// spin burns CPU on the calling thread until Process has advanced.
func spin(t *testing.T, start func() int64) {
	t.Helper()
	x := 1.0
	for i := 0; i < 1<<30 && start() == 0; i++ {
		x = x*1.0000001 + 1e-9
	}
	if x == 0 {
		t.Log(x)
	}
}

func TestProcessAndThreadAdvance(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p0 := Process()
	th0, ok := Thread()
	if p0 <= 0 {
		t.Fatalf("Process() = %v, want > 0 in a running process", p0)
	}
	spin(t, func() int64 { return int64(Process() - p0) })
	if p1 := Process(); p1 <= p0 {
		t.Fatalf("Process() went from %v to %v after spinning", p0, p1)
	}
	if runtime.GOOS == "linux" {
		if !ok {
			t.Fatal("Thread() not available on linux")
		}
		if th1, _ := Thread(); th1 <= th0 {
			t.Fatalf("Thread() went from %v to %v after spinning on this thread", th0, th1)
		}
	}
}
