package testenv

import (
	"testing"
	"time"

	"github.com/faceverify/faceverify/internal/cputime"
)

// CPUMeter reports, when its stop function is called, the process CPU
// time (cputime.Process: every thread, cgo's included) per benchmark
// iteration as a metric in unit: "cpu-us/op" for time.Microsecond,
// "cpu-ms/op" for time.Millisecond (any other unit is reported in ns as
// "cpu-ns/op"). Call it right after b.ResetTimer, stop right after the
// loop: `defer testenv.CPUMeter(b, time.Microsecond)()`.
func CPUMeter(b *testing.B, unit time.Duration) (stop func()) {
	name := map[time.Duration]string{time.Microsecond: "cpu-us/op", time.Millisecond: "cpu-ms/op"}[unit]
	if name == "" {
		unit, name = time.Nanosecond, "cpu-ns/op"
	}
	start := cputime.Process()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cputime.Process()-start)/float64(unit)/float64(b.N), name)
		}
	}
}
