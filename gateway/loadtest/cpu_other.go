//go:build !linux

package loadtest

import "time"

// threadCPU is not available here: model CPU time is reported as 0.
func threadCPU() (time.Duration, bool) { return 0, false }
