package goengine

import (
	"runtime"
	"sync"
)

// ranger is a kernel split into independent index ranges [lo, hi).
type ranger interface {
	runRange(lo, hi int)
}

type job struct {
	k      ranger
	lo, hi int
	wg     *sync.WaitGroup
}

// workers is the process-wide pool of kernel goroutines (GOMAXPROCS − 1 of
// them; the calling goroutine takes the first chunk itself), started on the
// first parallel run.
var workers struct {
	once sync.Once
	n    int
	jobs chan job
}

func startWorkers() {
	workers.n = runtime.GOMAXPROCS(0)
	workers.jobs = make(chan job, 4*workers.n)
	for i := 1; i < workers.n; i++ {
		go func() {
			for j := range workers.jobs {
				j.k.runRange(j.lo, j.hi)
				j.wg.Done()
			}
		}()
	}
}

// parallel runs k over [0, n) split into at most threads chunks of at least
// grain indices, on the worker pool; it returns when every chunk is done.
// It does not allocate.
func parallel(k ranger, n, grain, threads int, wg *sync.WaitGroup) {
	workers.once.Do(startWorkers)
	if threads <= 0 || threads > workers.n {
		threads = workers.n
	}
	chunks := threads
	if grain < 1 {
		grain = 1
	}
	if max := (n + grain - 1) / grain; chunks > max {
		chunks = max
	}
	if chunks <= 1 {
		k.runRange(0, n)
		return
	}
	step := (n + chunks - 1) / chunks
	wg.Add((n+step-1)/step - 1)
	for lo := step; lo < n; lo += step {
		hi := min(lo+step, n)
		workers.jobs <- job{k: k, lo: lo, hi: hi, wg: wg}
	}
	k.runRange(0, step)
	wg.Wait()
}
