// Package uplinktest holds fakes of the uplink interfaces: a function-field
// Gateway and a recording Publisher.
package uplinktest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/uplink"
)

// Gateway is a uplink.Gateway whose behaviour is set by function fields;
// a nil field answers an error.
type Gateway struct {
	SubmitFunc func(ctx context.Context, baseURL, token string, req api.SubmissionRequest) (api.SubmissionResponse, error)
	StatusFunc func(ctx context.Context, baseURL, token string) (api.StatusResponse, error)
	// StatusWaitFunc, when set, answers long polls (uplink.StatusWaiter);
	// when nil, StatusWait calls StatusFunc, as a gateway that ignores
	// the wait would answer.
	StatusWaitFunc func(ctx context.Context, baseURL, token string, wait time.Duration) (api.StatusResponse, error)
}

var _ uplink.StatusWaiter = (*Gateway)(nil)

// StatusWait calls StatusWaitFunc, or StatusFunc when it is nil.
func (g *Gateway) StatusWait(ctx context.Context, baseURL, token string, wait time.Duration) (api.StatusResponse, error) {
	if g.StatusWaitFunc == nil {
		return g.Status(ctx, baseURL, token)
	}
	return g.StatusWaitFunc(ctx, baseURL, token, wait)
}

// Submit calls SubmitFunc (info is not passed on).
func (g *Gateway) Submit(ctx context.Context, baseURL, token string, req api.SubmissionRequest, _ uplink.SubmitInfo) (api.SubmissionResponse, error) {
	if g.SubmitFunc == nil {
		return api.SubmissionResponse{}, errors.New("uplinktest: Submit not set")
	}
	return g.SubmitFunc(ctx, baseURL, token, req)
}

// Status calls StatusFunc.
func (g *Gateway) Status(ctx context.Context, baseURL, token string) (api.StatusResponse, error) {
	if g.StatusFunc == nil {
		return api.StatusResponse{}, errors.New("uplinktest: Status not set")
	}
	return g.StatusFunc(ctx, baseURL, token)
}

// Publisher records published events and stamps Seq like a real one.
// Wait for events with Next or Events.
type Publisher struct {
	DeviceID string
	mu       sync.Mutex
	events   []uplink.Event
	seq      uint64
	ch       chan uplink.Event
}

// NewPublisher returns a recording Publisher that also delivers every
// event on a channel of capacity 1024 (read it with C).
func NewPublisher(deviceID string) *Publisher {
	return &Publisher{DeviceID: deviceID, ch: make(chan uplink.Event, 1024)}
}

// Publish records ev.
func (p *Publisher) Publish(ev uplink.Event) {
	p.mu.Lock()
	p.seq++
	ev.Seq = p.seq
	ev.DeviceID = p.DeviceID
	p.events = append(p.events, ev)
	p.mu.Unlock()
	select {
	case p.ch <- ev:
	default:
	}
}

// C delivers events as they are published.
func (p *Publisher) C() <-chan uplink.Event { return p.ch }

// Events returns a copy of the recorded events, oldest first.
func (p *Publisher) Events() []uplink.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]uplink.Event(nil), p.events...)
}
