package spool

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/internal/clock"
	"github.com/faceverify/faceverify/uplink"
)

// TestFirstRetryWaitsBackoff: a submission stored after a failed try is
// not sent again at once; its first retry waits backoff(1) (from
// [RetryInitial/2, RetryInitial)), or the gateway's Retry-After when
// longer.
func TestFirstRetryWaitsBackoff(t *testing.T) {
	const initial = 10 * time.Second
	cases := []struct {
		name    string
		failure error
		due     time.Duration // the retry is due after this much fake time at most
		notDue  time.Duration // and not before this much
	}{
		{"backoff", errDown, initial, initial / 2},
		{"retry-after longer than the backoff", &uplink.Error{Op: "submit", StatusCode: 503, Temporary: true,
			RetryAfter: time.Minute, Err: errors.New("busy")}, time.Minute, time.Minute - time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(floor.Add(time.Hour))
			next := &fakeNext{fn: func(n int) (api.SubmissionResponse, error) {
				if n == 1 {
					return api.SubmissionResponse{}, tc.failure
				}
				return api.SubmissionResponse{SubmissionID: "s"}, nil
			}}
			s := newSpool(t, t.TempDir(), next, func(o *Options) { o.Clock, o.RetryInitial, o.RetryMax = clk, initial, time.Hour })
			// Run first, idle: the record's wake-up is then its only
			// iteration, so once it waits on the clock it stays parked
			// there (no Now/After pair can straddle an Advance).
			runSpool(t, s)
			if _, err := s.Submit(context.Background(), "u", "t", req("k"), info("c")); !errors.Is(err, ErrQueued) {
				t.Fatalf("Submit = %v, want queued", err)
			}
			// Run parks on the clock for the retry instead of sending now.
			if !clk.BlockUntil(1, time.Minute) {
				t.Fatal("spool not waiting for the first retry")
			}
			if n := next.n(); n != 1 {
				t.Fatalf("%d sends before any time passed, want 1 (the failed try)", n)
			}
			clk.Advance(tc.notDue - time.Millisecond)
			if n := next.n(); n != 1 {
				t.Fatalf("%d sends after %v, want the retry to wait", n, tc.notDue)
			}
			clk.Advance(tc.due - tc.notDue + time.Millisecond)
			if d := waitDelivery(t, s); d.Err != nil || next.n() != 2 {
				t.Fatalf("after %v: %+v, %d sends", tc.due, d, next.n())
			}
		})
	}
}

// TestOnQueuedBeforeDelivery: SubmitInfo.OnQueued runs before the record
// can be delivered, so an outcome reported before Submit even returns
// (Run delivers the record while Submit is still on its way out) is never
// for a key the caller does not know yet.
func TestOnQueuedBeforeDelivery(t *testing.T) {
	clk := clock.NewFake(floor.Add(time.Hour))
	next := &fakeNext{fn: func(n int) (api.SubmissionResponse, error) {
		if n == 1 {
			return api.SubmissionResponse{}, errDown
		}
		return api.SubmissionResponse{SubmissionID: "s"}, nil
	}}
	s := newSpool(t, t.TempDir(), next, func(o *Options) { o.Clock, o.RetryInitial, o.RetryMax = clk, time.Second, time.Second })
	runSpool(t, s)

	var mu sync.Mutex
	var order []string
	note := func(ev string) { mu.Lock(); order = append(order, ev); mu.Unlock() }
	known := map[string]bool{}
	testHook = func(point string) {
		if point != "indexed" {
			return
		}
		// Submit has stored and indexed the record but not returned: let
		// Run deliver it now and take its outcome, as the agent's
		// forwarding goroutine would.
		signal(s.wake)
		if !clk.BlockUntil(1, time.Minute) {
			t.Error("spool not waiting for the first retry")
			return
		}
		clk.Advance(time.Second)
		d := waitDelivery(t, s)
		mu.Lock()
		routed := known[d.Key]
		mu.Unlock()
		note("outcome")
		if d.Err != nil || !routed {
			t.Errorf("outcome %+v reported for a key the caller did not know yet (known: %v)", d, routed)
		}
	}
	t.Cleanup(func() { testHook = nil })

	info := uplink.SubmitInfo{CorrelationID: "c", OnQueued: func(key string) {
		mu.Lock()
		known[key] = true
		mu.Unlock()
		note("on-queued")
	}}
	_, err := s.Submit(context.Background(), "u", "t", req("k"), info)
	note("submit-returned")
	var qe *QueuedError
	if !errors.As(err, &qe) || qe.Key != "k" {
		t.Fatalf("Submit = %v, want queued", err)
	}
	want := []string{"on-queued", "outcome", "submit-returned"}
	if mu.Lock(); !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	mu.Unlock()

	// A submission queued without a try (clock not synced) calls it too;
	// one delivered at once does not.
	calls := 0
	info.OnQueued = func(string) { calls++ }
	testHook = nil
	ok := newSpool(t, t.TempDir(), &fakeNext{fn: func(int) (api.SubmissionResponse, error) { return api.SubmissionResponse{}, nil }})
	if _, err := ok.Submit(context.Background(), "u", "t", req("k2"), info); err != nil || calls != 0 {
		t.Errorf("delivered at once: err %v, OnQueued called %d times, want 0", err, calls)
	}
	unsynced := newSpool(t, t.TempDir(), &fakeNext{fn: down}, func(o *Options) { o.Clock, o.ClockFloor = clock.NewFake(time.Unix(0, 0)), floor })
	if _, err := unsynced.Submit(context.Background(), "u", "t", req("k3"), info); !errors.Is(err, ErrQueued) || calls != 1 {
		t.Errorf("clock not synced: err %v, OnQueued called %d times, want 1", err, calls)
	}
}
