package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
)

// errDecodeBusy: the decode memory budget (Limits.DecodeMemory) stayed
// exhausted for as long as the caller could wait.
var errDecodeBusy = errors.New("image decoding capacity exhausted")

// decodeBudget bounds the pixel memory of the decodes in flight: each one
// holds its estimated cost (inference.DecodeCost.Bytes) of a weighted
// semaphore of Limits.DecodeMemory bytes until its image is released.
// Waiters are served in order (golang.org/x/sync/semaphore is FIFO), so a
// large image is not starved by small ones.
type decodeBudget struct {
	sem     *semaphore.Weighted
	total   int64
	inUse   prometheus.Gauge
	refused *prometheus.CounterVec // reason: too_large, busy
}

func newDecodeBudget(total int64, reg prometheus.Registerer) *decodeBudget {
	b := &decodeBudget{
		sem:   semaphore.NewWeighted(total),
		total: total,
		inUse: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metricsNamespace, Name: "decode_memory_in_use_bytes",
			Help: "Estimated pixel memory held by image decodes in flight (limit: limits.decode_memory).",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "decode_refusals_total",
			Help: "Images refused before decoding, by reason: too_large (pixels or decode memory over a limit), busy (budget exhausted past the wait).",
		}, []string{"reason"}),
	}
	reg.MustRegister(b.inUse, b.refused)
	return b
}

// decodeImage decodes data, a JPEG or PNG, under the decode memory budget:
//
//  1. the header is parsed (inference.EstimateDecode): not an image →
//     an error wrapping inference.ErrDecode, a JPEG of more than
//     inference.MaxJPEGScans scans → one wrapping inference.ErrTooLarge;
//  2. width×height above maxPixels, or a decode cost above the whole
//     budget → an error wrapping inference.ErrTooLarge, at once;
//  3. the cost is acquired from the budget, waiting until ctx ends →
//     an error wrapping errDecodeBusy (and ctx's error);
//  4. the image is decoded with Deps.Decode or, when that is unset, with
//     inference.DecodePooled (the same pixels in a recycled buffer).
//
// On success release must be called once the image is no longer used:
// its memory counts against the budget until then, and a pooled buffer is
// zeroed and reused by the next decode after it. release is a no-op on
// error and may be called more than once.
func (g *Gateway) decodeImage(ctx context.Context, data []byte, maxPixels int) (img image.Image, release func(), err error) {
	release = func() {}
	cost, err := inference.EstimateDecode(data)
	if err != nil {
		if errors.Is(err, inference.ErrTooLarge) { // too many JPEG scans
			g.budget.refused.WithLabelValues("too_large").Inc()
		}
		return nil, release, err
	}
	if px := int64(cost.Width) * int64(cost.Height); px > int64(maxPixels) {
		g.budget.refused.WithLabelValues("too_large").Inc()
		return nil, release, fmt.Errorf("%dx%d pixels, limit %d: %w", cost.Width, cost.Height, maxPixels, inference.ErrTooLarge)
	}
	if cost.Bytes > g.budget.total {
		g.budget.refused.WithLabelValues("too_large").Inc()
		return nil, release, fmt.Errorf("%dx%d %s needs %d MiB to decode, more than limits.decode_memory (%d MiB): %w",
			cost.Width, cost.Height, cost.Format, mib(cost.Bytes), mib(g.budget.total), inference.ErrTooLarge)
	}
	if err := g.budget.sem.Acquire(ctx, cost.Bytes); err != nil {
		g.budget.refused.WithLabelValues("busy").Inc()
		return nil, release, fmt.Errorf("%w (%d MiB needed): %w", errDecodeBusy, mib(cost.Bytes), err)
	}
	g.budget.inUse.Add(float64(cost.Bytes))
	held := true
	release = func() {
		if held {
			held = false
			g.budget.inUse.Sub(float64(cost.Bytes))
			g.budget.sem.Release(cost.Bytes)
		}
	}
	if g.pooled {
		// inference.Decode's result with its pixels from a pool: they go
		// back (zeroed) when the caller releases the image.
		var put func()
		img, put, err = inference.DecodePooled(bytes.NewReader(data), inference.Limits{
			MaxPixels: maxPixels, MaxBytes: inference.DefaultMaxBytes, MaxDecodedBytes: inference.DefaultMaxDecodedBytes})
		if err == nil {
			budget := release
			release = func() { put(); budget() }
		}
	} else {
		img, err = g.decode(bytes.NewReader(data), maxPixels)
	}
	if err != nil {
		release()
		return nil, func() {}, err
	}
	return img, release, nil
}

// checkSelfie decodes an uploaded selfie once, under the budget, so that a
// corrupt, oversized or over-budget capture is refused before it is stored
// and costs the user no attempt. The wait for budget is bounded by
// Limits.DecodeWait and the request. Errors are *httpError:
//
//	not a JPEG/PNG, corrupt, truncated     400 invalid_image
//	over max_selfie_pixels or the budget   413 payload_too_large
//	budget still exhausted after the wait  503 server_busy, Retry-After
func (g *Gateway) checkSelfie(ctx context.Context, selfie []byte) error {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Limits.DecodeWait)
	defer cancel()
	img, release, err := g.decodeImage(ctx, selfie, g.cfg.selfiePixels())
	switch {
	case err == nil:
		g.decoded.put(sha256.Sum256(selfie), img, release) // for the worker (decodeonce.go)
		return nil
	case errors.Is(err, errDecodeBusy):
		return &retryAfterError{&httpError{http.StatusServiceUnavailable, api.CodeServerBusy,
			"selfie: image decoding capacity is exhausted; retry later"}, retryAfterSeconds(g.cfg.Limits.DecodeWait)}
	case errors.Is(err, inference.ErrTooLarge):
		return &httpError{http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, "selfie: " + tooLargeMessage(err)}
	case errors.Is(err, inference.ErrDecode):
		return &httpError{http.StatusBadRequest, api.CodeInvalidImage, "selfie: not a JPEG or PNG image, or corrupt or truncated"}
	}
	return fmt.Errorf("decode selfie: %w", err)
}

// retryAfterError is an *httpError answered with a Retry-After header.
type retryAfterError struct {
	*httpError
	after string // seconds
}

func (e *retryAfterError) Unwrap() error { return e.httpError }

// tooLargeMessage is err's text without the sentinel's suffix.
func tooLargeMessage(err error) string {
	s := err.Error()
	if t := ": " + inference.ErrTooLarge.Error(); len(s) > len(t) && s[len(s)-len(t):] == t {
		return s[:len(s)-len(t)]
	}
	return s
}

// retryAfterSeconds is a Retry-After value (whole seconds, at least 1) for
// a wait of d.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}

func mib(n int64) int64 { return (n + 1<<20 - 1) >> 20 }
