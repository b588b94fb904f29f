package storetest

import (
	"syscall"
	"testing"
	"time"
)

// cpuMeter reports, when its stop function is called, the process CPU
// time (user + system, all threads, the embedded SQLite's included) per
// iteration as cpu-us/op: on a shared machine it moves far less with
// other processes' load than the wall time (ns/op) does. Call it right
// after b.ResetTimer and stop right after the loop.
func cpuMeter(b *testing.B) (stop func()) {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/1e3/float64(b.N), "cpu-us/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
