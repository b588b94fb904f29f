package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/agent/session"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/internal/clock"
	"github.com/faceverify/faceverify/uplink"
	"github.com/faceverify/faceverify/uplink/gateway"
	"github.com/faceverify/faceverify/uplink/spool"
)

// hookHandler is a slog handler that calls fn for every record it sees
// (a hook at a point the code logs), then discards it.
type hookHandler struct{ fn func(slog.Record) }

func (h hookHandler) Enabled(context.Context, slog.Level) bool      { return true }
func (h hookHandler) Handle(_ context.Context, r slog.Record) error { h.fn(r); return nil }
func (h hookHandler) WithAttrs([]slog.Attr) slog.Handler            { return h }
func (h hookHandler) WithGroup(string) slog.Handler                 { return h }

type submitterFunc func(n int) (api.SubmissionResponse, error)

// countingSubmitter answers call n (from 1) with fn(n).
type countingSubmitter struct {
	n  atomic.Int32
	fn submitterFunc
}

func (c *countingSubmitter) Submit(context.Context, string, string, api.SubmissionRequest, uplink.SubmitInfo) (api.SubmissionResponse, error) {
	return c.fn(int(c.n.Add(1)))
}

// TestSpoolOutcomeBeforeSubmitReturns: the spool delivers a queued upload
// and reports its outcome while the agent's Submit call has not returned
// yet; the outcome still reaches the session that queued it (the key was
// registered before the record could be delivered). Hooks and a fake
// clock order the steps; nothing sleeps.
func TestSpoolOutcomeBeforeSubmitReturns(t *testing.T) {
	const retry = time.Second
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	next := &countingSubmitter{fn: func(n int) (api.SubmissionResponse, error) {
		if n <= 2 { // the session's try, and an older record's first try
			return api.SubmissionResponse{}, &uplink.Error{Op: "submit", Temporary: true, Err: errors.New("connection refused")}
		}
		return api.SubmissionResponse{SubmissionID: "sub-1", Status: api.StatusProcessing}, nil
	}}
	var a *Agent
	var sp *spool.Spool
	var routed, hooked atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	onLog := func(r slog.Record) {
		// The spool logs this once the record is indexed, before Submit
		// returns; the session's record is the second one stored.
		if r.Message != "submission spooled" || next.n.Load() != 2 || hooked.Swap(true) {
			return
		}
		// Run waits for the older record's retry; both are due after
		// `retry`. Take the outcomes as forwardDeliveries would.
		if !clk.BlockUntil(1, time.Minute) {
			t.Error("spool not waiting on the clock")
			return
		}
		clk.Advance(retry)
		for range 2 {
			select {
			case d := <-sp.Deliveries():
				if d.Key == "sess-key" {
					routed.Store(a.routeDelivery(ctx, d))
				}
			case <-time.After(10 * time.Second):
				t.Error("no spool outcome")
				return
			}
		}
	}
	var err error
	sp, err = spool.New(spool.Options{Dir: filepath.Join(t.TempDir(), "spool"), Key: bytes.Repeat([]byte{1}, spool.KeyLen),
		Next: next, Clock: clk, RetryInitial: retry, RetryMax: retry, Logger: slog.New(hookHandler{onLog})})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan struct{})
	go func() { sp.Run(ctx); close(runDone) }()
	defer func() { cancel(); <-runDone }()

	// An older record keeps Run parked on the clock.
	if _, err := sp.Submit(ctx, "http://127.0.0.1:1", "tok", api.SubmissionRequest{IdempotencyKey: "older-key"}, uplink.SubmitInfo{}); !errors.Is(err, spool.ErrQueued) {
		t.Fatalf("older record: %v", err)
	}
	a, err = New(testCfg(), Deps{Source: source(green), Analyzer: &agenttest.Analyzer{}, Gateway: gateway.New(gateway.Options{}),
		Spool: sp, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	job := uplinkJob{ctx: ctx, sid: "sess-1", base: "http://127.0.0.1:1", token: "tok", corr: "corr-1",
		upload: &session.Upload{Key: "sess-key", Try: 1}}
	_, queued, err := a.submit(ctx, job, api.SubmissionRequest{IdempotencyKey: "sess-key"})
	if !queued || err != nil {
		t.Fatalf("submit: queued %v err %v", queued, err)
	}
	if !hooked.Load() {
		t.Fatal("the spool never logged the stored record")
	}
	if !routed.Load() {
		t.Fatal("the outcome delivered before Submit returned had no session to go to")
	}
	var got []session.Event
	for len(a.results) > 0 {
		r := <-a.results
		if r.sid != "sess-1" {
			t.Errorf("event for session %q", r.sid)
		}
		got = append(got, r.ev)
	}
	var done, queuedEv bool
	for _, ev := range got {
		switch ev := ev.(type) {
		case session.UploadDone:
			done = ev.Response.SubmissionID == "sub-1"
		case session.UploadQueued:
			queuedEv = ev.Key == "sess-key"
		}
	}
	if !done || !queuedEv {
		t.Errorf("session events %#v, want UploadDone(sub-1) and UploadQueued(sess-key)", got)
	}
	if _, left := a.queuedKeys.Load("sess-key"); left {
		t.Error("the key → session mapping outlived its outcome")
	}
}
