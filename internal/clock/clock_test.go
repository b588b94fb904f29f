package clock

import (
	"testing"
	"time"
)

func TestBlockUntilDueIgnoresStaleWaiters(t *testing.T) {
	f := NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	stale := f.After(5 * time.Second) // abandoned by its goroutine
	if !f.BlockUntil(1, time.Second) {
		t.Fatal("BlockUntil does not see the pending waiter")
	}
	if f.BlockUntilDue(time.Second, 10*time.Millisecond) {
		t.Fatal("BlockUntilDue(1s) satisfied by a waiter due in 5s")
	}
	parked := make(chan (<-chan time.Time))
	go func() { parked <- f.After(time.Second) }()
	if !f.BlockUntilDue(time.Second, time.Minute) {
		t.Fatal("BlockUntilDue(1s) missed the waiter due in 1s")
	}
	ch := <-parked
	f.Advance(time.Second)
	select {
	case <-ch:
	default:
		t.Fatal("the 1s waiter did not fire")
	}
	select {
	case <-stale:
		t.Fatal("the 5s waiter fired after 1s")
	default:
	}
	if !f.BlockUntilDue(4*time.Second, time.Second) {
		t.Fatal("BlockUntilDue measures from the current fake time")
	}
}

func TestTimerStopRemovesWaiter(t *testing.T) {
	f := NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	c, stop := f.Timer(time.Second)
	if f.Waiters() != 1 {
		t.Fatalf("waiters = %d, want 1", f.Waiters())
	}
	if !stop() || f.Waiters() != 0 {
		t.Fatalf("stop did not remove the waiter (%d left)", f.Waiters())
	}
	if stop() {
		t.Error("second stop reported a pending timer")
	}
	f.Advance(time.Hour)
	select {
	case <-c:
		t.Fatal("a stopped timer fired")
	default:
	}
	c, stop = f.Timer(time.Second)
	f.Advance(time.Second)
	if _, ok := <-c; !ok || stop() {
		t.Fatal("a fired timer: want its time, and stop = false")
	}
}
