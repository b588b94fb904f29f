package agent

import (
	"context"
	"image/color"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/agent/config"
	"github.com/faceverify/faceverify/agent/led"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/clock"
	"github.com/faceverify/faceverify/uplink/uplinktest"
)

// TestFirstStatusCallIsALongPollRightAfterUpload: the first status call
// goes out as soon as the upload is accepted (the fake clock never moves,
// so any poll delay would hold it), as a long poll of session.status_wait;
// a long poll that waited its whole wait is followed by another at once.
func TestFirstStatusCallIsALongPollRightAfterUpload(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := clock.NewFake(t0)
	type call struct {
		at   time.Time
		wait time.Duration
	}
	calls := make(chan call, 8)
	var n atomic.Int32
	submitted := make(chan time.Time, 1)
	gw := &uplinktest.Gateway{
		SubmitFunc: func(_ context.Context, _, _ string, _ api.SubmissionRequest) (api.SubmissionResponse, error) {
			submitted <- clk.Now()
			return api.SubmissionResponse{SubmissionID: "sub-1", Attempt: 1, Status: api.StatusProcessing}, nil
		},
		StatusFunc: func(context.Context, string, string) (api.StatusResponse, error) {
			t.Error("plain status poll; want long polls only")
			return api.StatusResponse{}, context.Canceled
		},
		StatusWaitFunc: func(_ context.Context, _, _ string, wait time.Duration) (api.StatusResponse, error) {
			calls <- call{clk.Now(), wait}
			if n.Add(1) == 1 { // the first long poll ends without a change
				return api.StatusResponse{Status: api.StatusProcessing, NextAction: api.ActionStatus, RetryAfterMS: 1000, AttemptsLeft: 2, Waited: true}, nil
			}
			return api.StatusResponse{Status: api.StatusVerified, NextAction: api.ActionExit, AttemptsLeft: 2}, nil
		},
	}
	cfg := testCfg()
	cfg.Session.PassFrames = 1 // one analysis: nothing waits on the clock before the upload
	cfg.Session.PollInitial = config.DefaultConfig().Session.PollInitial
	cfg.Session.StatusWait = 20 * time.Second
	an := &agenttest.Analyzer{ByColor: map[color.RGBA]inference.Analysis{green: agenttest.OneFace(faceBox, true)}}
	a, err := New(cfg, Deps{
		Source: source(green), Analyzer: an, Gateway: gw, LEDs: &led.Recorder{}, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-a.Ready()
	h := &harness{t: t, a: a}
	if code, body := h.post("/v1/verify", launchBody("http://127.0.0.1:1")); code != http.StatusAccepted {
		t.Fatalf("launch: %d %v", code, body)
	}
	up := <-submitted
	for i := range 2 {
		var c call
		select {
		case c = <-calls:
		case <-time.After(time.Minute): // a hang guard only: the fake clock never moves
			t.Fatalf("status call %d never came: a poll delay on the (still) fake clock?", i+1)
		}
		if !c.at.Equal(up) || c.wait != 20*time.Second {
			t.Errorf("status call %d at +%v with wait %v, want at the upload (+0s) with wait 20s", i+1, c.at.Sub(up), c.wait)
		}
	}
	if v := h.waitFinal(); v.Status != api.StatusVerified {
		t.Errorf("final %+v, want VERIFIED", v)
	}
}
