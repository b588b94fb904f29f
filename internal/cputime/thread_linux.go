package cputime

import (
	"syscall"
	"time"
)

// rusageThread is Linux's RUSAGE_THREAD: the calling thread only.
const rusageThread = 1

// Thread is the calling OS thread's CPU time so far; ok is false where
// the platform cannot tell. Pin the goroutine (runtime.LockOSThread)
// around the work measured, or the difference of two readings mixes
// threads.
func Thread() (d time.Duration, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
