// Package clock is the project's one swappable time source, shared by the
// agent, capture (replay pacing, V4L2 frame stamps and timeouts, the camera
// supervisor) and the uplink spool. Production code uses Real; tests use
// Fake, whose time only moves when the test advances it, so pacing, capture
// windows and poll delays are tested without sleeping.
//
// It is a leaf: it imports only the standard library. A library clock such
// as github.com/jonboulle/clockwork (in the module graph through a
// dependency) has no equivalent of Fake.BlockUntilDue, which the session
// tests need to tell a parked goroutine from a stale waiter.
package clock

import (
	"slices"
	"sort"
	"sync"
	"time"
)

// Clock tells the time and delivers it after a delay.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the time once d has elapsed
	// (immediately for d ≤ 0). The channel has a buffer of one.
	After(d time.Duration) <-chan time.Time
}

// TimerClock is a Clock whose waits can be cancelled (Real and *Fake are):
// a goroutine that waits on several channels stops the timer it no longer
// needs, so a Fake holds exactly the waits that are still read.
type TimerClock interface {
	Clock
	Timer(d time.Duration) (c <-chan time.Time, stop func() bool)
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Timer is After that can be cancelled: stop reports whether it stopped a
// pending timer (false once it fired or was stopped). A goroutine that
// waits on the channel together with others calls stop when woken another
// way, so that a Fake clock is not left with a waiter nobody reads.
// Packages that accept a Clock may use it when their clock has it (see
// capture.Supervisor).
func (Real) Timer(d time.Duration) (c <-chan time.Time, stop func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Fake is a manual clock for tests. The zero value is not usable; make one
// with NewFake. It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	changed chan struct{} // closed and replaced whenever waiters change
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewFake returns a Fake clock reading start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After returns a channel that fires when the fake time reaches Now()+d.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, waiter{at: f.now.Add(d), ch: ch})
	f.notify()
	return ch
}

// Timer is After that can be cancelled (see Real.Timer); stop removes the
// waiter, so BlockUntil and BlockUntilDue no longer count it.
func (f *Fake) Timer(d time.Duration) (c <-chan time.Time, stop func() bool) {
	ch := f.After(d)
	return ch, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, w := range f.waiters {
			if w.ch == ch {
				f.waiters = slices.Delete(f.waiters, i, i+1)
				f.notify()
				return true
			}
		}
		return false
	}
}

// Advance moves the fake time forward by d and fires every waiter whose
// time has come, in time order.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	sort.SliceStable(f.waiters, func(i, j int) bool { return f.waiters[i].at.Before(f.waiters[j].at) })
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if !w.at.After(f.now) {
			w.ch <- f.now
			continue
		}
		kept = append(kept, w)
	}
	f.waiters = kept
	f.notify()
}

// Waiters returns the number of pending After calls.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// BlockUntil waits (in real time, at most timeout) until at least n After
// calls are pending, and reports whether that happened. Tests use it to
// know a goroutine is parked on the clock before advancing it.
func (f *Fake) BlockUntil(n int, timeout time.Duration) bool {
	return f.blockUntil(timeout, func() bool { return len(f.waiters) >= n })
}

// BlockUntilDue waits (in real time, at most timeout) until an After call
// is pending that fires exactly d from the current fake time, and reports
// whether that happened. Unlike BlockUntil it is not satisfied by a stale
// waiter: a channel abandoned by a goroutine that was woken some other way
// (a select on several channels) stays pending on the clock, and counting
// it would let a test advance the clock before the goroutine under test
// has parked again.
func (f *Fake) BlockUntilDue(d, timeout time.Duration) bool {
	return f.blockUntil(timeout, func() bool {
		at := f.now.Add(d)
		return slices.ContainsFunc(f.waiters, func(w waiter) bool { return w.at.Equal(at) })
	})
}

// blockUntil waits (in real time, at most timeout) until ok reports true,
// and reports whether it did. ok is called with f.mu held, first at once
// and again whenever the waiters change.
func (f *Fake) blockUntil(timeout time.Duration, ok func() bool) bool {
	deadline := time.After(timeout)
	for {
		f.mu.Lock()
		done := ok()
		ch := f.changed
		f.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

func (f *Fake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}
