// Package cputime reads CPU time (user + system) from getrusage(2): the
// figure benchmarks and `facegateway bench` report beside wall time,
// because on a shared machine other processes' load inflates wall time
// far more than the CPU time a piece of work takes.
package cputime

import (
	"syscall"
	"time"
)

// Process is the CPU time of this process so far: every thread, cgo and
// runtime threads included (RUSAGE_SELF). It is 0 where getrusage fails.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
