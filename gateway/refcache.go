package gateway

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"image"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faceverify/faceverify/inference"
)

// The partner's reference is off the critical path: when a flow is
// initiated its reference is fetched and analysed in the background
// (Config.Reference.Prefetch at once, through the partner's guarded client
// and the usual timeouts), and the result — the reference embedding and
// the luma grids the replay check compares, or why the reference is
// unusable — is kept for the flow's life only, sealed with SelfieKeys in
// the store's flow_references table so every attempt and every replica
// uses one fetch and one analysis. The row is deleted when the flow closes
// (final decision or expiry) and with the flow (erasure, retention); the
// epoch key that sealed it is destroyed on the selfie schedule. The
// profile is never logged.
//
// A worker that needs the reference before the prefetch finished waits for
// it (the same process) or for the other replica's lease (polling the
// store), and does it itself once that lease ends. A transient fetch
// failure (timeout, 5xx, network) is not kept: the next attempt fetches
// again. A profile that cannot be opened (its key destroyed, or held only
// by another replica's memory) is analysed again, uncached.

// refProfile is what the gateway keeps of an analysed reference.
type refProfile struct {
	// Unusable: the partner answered, but with no usable reference (4xx,
	// not an image, too large, no single face) or the address was
	// refused; Detail says why (partner-safe) and Decision is the
	// analysis decision when there was one.
	Unusable bool
	Detail   string
	Decision string
	// Embedding is the reference face's L2-normalised embedding;
	// EmbeddingModel names the embedder that computed it
	// (inference.Face.EmbeddingModel) and EmbeddingDim its length. A
	// selfie embedded by another model is not compared with it: the
	// reference is analysed again (matchableReference).
	Embedding      []float32
	EmbeddingModel string
	EmbeddingDim   int
	// Luma is the grid of the reference's aligned face crop; MirrorLuma
	// that of its mirror image realigned (AlignMirroredFace). Nil when
	// not computed.
	Luma, MirrorLuma *inference.Luma
}

// newRefProfile keeps what the match and the replay check need of the
// reference face f found in img (the decoded reference) turned clockwise
// by rotation degrees (Analysis.Rotation: f's landmarks are in pixels of
// the turned image, so the mirrored crop is realigned from that image).
func newRefProfile(f inference.Face, img image.Image, rotation int) refProfile {
	p := refProfile{Decision: string(inference.DecisionOK), Embedding: f.Embedding,
		EmbeddingModel: f.EmbeddingModel, EmbeddingDim: len(f.Embedding)}
	if f.Aligned != nil {
		p.Luma, _ = inference.NewLuma(f.Aligned)
	}
	if p.Luma != nil && img != nil && len(f.Landmarks) == 68 {
		realigned := image.NewRGBA(image.Rect(0, 0, inference.ArcFaceSize, inference.ArcFaceSize))
		if inference.AlignMirroredFace(realigned, inference.Turn(inference.ToOpaqueRGBA(img, nil), rotation), f.Landmarks) == nil {
			p.MirrorLuma, _ = inference.NewLuma(realigned)
		}
	}
	return p
}

// evidence measures how close the selfie face is to the reference (see
// referenceEvidence). ok is false when either lacks an aligned crop or an
// embedding.
func (p refProfile) evidence(selfie inference.Face) (replayEvidence, bool) {
	s, ok := newFaceprint(selfie)
	if !ok || p.Luma == nil || len(selfie.Embedding) == 0 || len(selfie.Embedding) != len(p.Embedding) {
		return replayEvidence{}, false
	}
	rh, rm := p.Luma.PHashes()
	e := replayEvidence{
		Distance:    min(s.hash.Distance(rh), s.hash.Distance(rm)),
		Correlation: max(inference.Correlation(s.luma, p.Luma), inference.Correlation(s.luma, p.Luma.Mirror())),
		Cosine:      inference.Cosine(selfie.Embedding, p.Embedding),
	}
	if p.MirrorLuma != nil {
		mh, _ := p.MirrorLuma.PHashes()
		e.Distance = min(e.Distance, s.hash.Distance(mh))
		e.Correlation = max(e.Correlation, inference.Correlation(s.luma, p.MirrorLuma))
	}
	return e, true
}

// refSealID is the associated data a profile is sealed under: never a
// submission id, so a sealed profile cannot pass for a selfie.
func refSealID(flowID string) string { return "ref:" + flowID }

// sealProfile encodes and seals p for flow flowID at now.
func (g *Gateway) sealProfile(now time.Time, flowID string, p refProfile) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(p); err != nil {
		return nil, fmt.Errorf("encode reference profile: %w", err)
	}
	sealed, err := g.keys.Seal(now, refSealID(flowID), buf.Bytes())
	clear(buf.Bytes())
	return sealed, err
}

// openProfile opens a profile sealed by sealProfile. Errors: those of
// SelfieKeys.Open, or a decoding error.
func (g *Gateway) openProfile(now time.Time, flowID string, sealed []byte) (refProfile, error) {
	if !IsSealedSelfie(sealed) {
		return refProfile{}, ErrSelfieCorrupt // never stored in clear
	}
	plain, err := g.keys.Open(now, refSealID(flowID), sealed)
	if err != nil {
		return refProfile{}, err
	}
	defer clear(plain)
	var p refProfile
	if err := gob.NewDecoder(bytes.NewReader(plain)).Decode(&p); err != nil {
		return refProfile{}, fmt.Errorf("decode reference profile: %w", err)
	}
	return p, nil
}

// errReferenceRuntime marks a reference failure of the gateway itself (the
// decode budget, the analyzer, the store): the submission is handed back
// rather than rejected.
var errReferenceRuntime = errors.New("reference processing failed")

// loadReference fetches, decodes and analyses the flow user's reference.
// It returns the profile (Unusable set for a reference the partner cannot
// give or that has no usable face) or an error: a transient fetch failure
// (*referenceError or ctx's error) or one wrapping errReferenceRuntime.
// Failures are logged without the request URL or any image data.
func (g *Gateway) loadReference(ctx context.Context, flow Flow, partner PartnerConfig) (refProfile, error) {
	t := time.Now()
	raw, err := g.fetchReference(ctx, partner, flow)
	g.metrics.stage.WithLabelValues("reference_fetch").Observe(time.Since(t).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return refProfile{}, err
		}
		args := []any{"correlation_id", flow.CorrelationID, "client_id", partner.ClientID, "detail", referenceDetail(err), "err", err}
		var ar *AddressRefusedError
		if errors.As(err, &ar) {
			args = append(args, "rule", ar.Rule, "host", ar.Host, "addr", ar.Addr.String())
		}
		g.log.Warn("reference unavailable", args...)
		if errors.As(err, &ar) || errors.Is(err, errReferenceUnusable) {
			return refProfile{Unusable: true, Detail: referenceDetail(err)}, nil
		}
		return refProfile{}, err
	}
	img, release, err := g.decodeImage(ctx, raw, g.cfg.Inference.MaxPixels)
	clear(raw)
	switch {
	case errors.Is(err, errDecodeBusy):
		return refProfile{}, fmt.Errorf("%w: decode reference: %w", errReferenceRuntime, err)
	case errors.Is(err, inference.ErrTooLarge):
		return g.unusable(flow, partner, refErr(err, "reference image too large: %s", tooLargeMessage(err)), ""), nil
	case err != nil:
		return g.unusable(flow, partner, refErr(err, "reference image cannot be decoded (not a JPEG or PNG, or corrupt)"), ""), nil
	}
	defer release()
	t = time.Now()
	a, err := g.analyzer.Analyze(ctx, img, ReferenceOptions)
	g.metrics.stage.WithLabelValues("reference").Observe(time.Since(t).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return refProfile{}, ctx.Err()
		}
		return refProfile{}, fmt.Errorf("%w: analyze reference: %w", errReferenceRuntime, err)
	}
	rface, ok := subject(a)
	if a.Decision != inference.DecisionOK || !ok || len(rface.Embedding) == 0 {
		return g.unusable(flow, partner, refErr(errReferenceUnusable, "no usable face in the reference image (%s)", a.Decision), a.Decision), nil
	}
	return newRefProfile(rface, img, a.Rotation), nil
}

// unusable logs and returns the profile of an unusable reference.
func (g *Gateway) unusable(flow Flow, partner PartnerConfig, err error, d inference.Decision) refProfile {
	g.log.Warn("reference unusable", "correlation_id", flow.CorrelationID, "client_id", partner.ClientID, "decision", string(d), "detail", referenceDetail(err))
	return refProfile{Unusable: true, Detail: referenceDetail(err), Decision: string(d)}
}

// refCache runs the reference prefetch and shares one load per flow among
// the goroutines of this process.
type refCache struct {
	queue   chan refRequest // flows waiting for a prefetch worker
	mu      sync.Mutex
	jobs    map[string]*refJob // loads under way, by flow id
	seq     atomic.Int64
	results *prometheus.CounterVec // result
}

type refRequest struct {
	flow    Flow
	partner PartnerConfig
}

// refJob is one load under way; done is closed when prof/err are set.
type refJob struct {
	done chan struct{}
	prof refProfile
	err  error
}

// refQueueLen bounds the flows waiting for a prefetch; past it a flow is
// left to its first submission (counted as result "dropped").
const refQueueLen = 256

func newRefCache(reg prometheus.Registerer) *refCache {
	c := &refCache{
		queue: make(chan refRequest, refQueueLen),
		jobs:  map[string]*refJob{},
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "reference_cache_total",
			Help: "Reference look-ups by result: hit (analysed profile reused), loaded (fetched and analysed), waited (joined a load under way), reanalysed (profile unreadable, analysed again), model_changed (profile embedded by another model than the selfie, analysed again), dropped (prefetch queue full), transient (fetch failed, not kept), check_unusable (reference_check answered 422), check_shared (reference_check joined a check of the same flow under way), check_busy (reference_check answered 503: reference.max_checks of the partner running).",
		}, []string{"result"}),
	}
	reg.MustRegister(c.results)
	return c
}

// prefetchReference queues the flow's reference for a background load; it
// never blocks (a full queue leaves the load to the first submission).
func (g *Gateway) prefetchReference(flow Flow, partner PartnerConfig) {
	if g.cfg.Reference.Prefetch == 0 {
		return
	}
	select {
	case g.refs.queue <- refRequest{flow, partner}:
	default:
		g.refs.results.WithLabelValues("dropped").Inc()
	}
}

// prefetcher loads queued references until ctx is cancelled.
func (g *Gateway) prefetcher(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-g.refs.queue:
			g.referenceFor(ctx, r.flow, r.partner, true)
		}
	}
}

// referenceFor returns the analysed reference of an open flow: from the
// store, from a load under way in this process, or loaded now (and kept).
// Errors are those of loadReference.
//
// A prefetch (prefetch set) of a flow that closed or was erased meanwhile
// loads nothing and returns ErrFlowFinal or ErrNotFound.
func (g *Gateway) referenceFor(ctx context.Context, flow Flow, partner PartnerConfig, prefetch bool) (refProfile, error) {
	c := g.refs
	c.mu.Lock()
	j, joined := c.jobs[flow.ID]
	if !joined {
		j = &refJob{done: make(chan struct{})}
		c.jobs[flow.ID] = j
	}
	c.mu.Unlock()
	if joined {
		select {
		case <-j.done:
		case <-ctx.Done():
			return refProfile{}, ctx.Err()
		}
		if j.err == nil {
			c.results.WithLabelValues("waited").Inc()
			return j.prof, nil
		}
		// The load it joined failed (or its context ended): try once more.
		return g.obtainReference(ctx, flow, partner, prefetch)
	}
	j.prof, j.err = g.obtainReference(ctx, flow, partner, prefetch)
	c.mu.Lock()
	delete(c.jobs, flow.ID)
	c.mu.Unlock()
	close(j.done)
	return j.prof, j.err
}

// obtainReference reads the flow's profile from the store, or claims the
// load and does it, or waits for another replica's claim to end.
func (g *Gateway) obtainReference(ctx context.Context, flow Flow, partner PartnerConfig, prefetch bool) (refProfile, error) {
	rs, ok := g.store.(ReferenceStore)
	if !ok {
		return g.loadReference(ctx, flow, partner)
	}
	owner := g.owner + "/ref/" + strconv.FormatInt(g.refs.seq.Add(1), 10)
	for {
		now := g.now()
		ref, claimed, err := rs.ClaimReference(ctx, flow.ID, owner, now, now.Add(g.cfg.Processing.Lease))
		switch {
		case (errors.Is(err, ErrNotFound) || errors.Is(err, ErrFlowFinal)) && prefetch:
			return refProfile{}, err // nobody will need it
		case errors.Is(err, ErrNotFound) || errors.Is(err, ErrFlowFinal):
			// Nothing may be kept for a closed or erased flow.
			return g.loadReference(ctx, flow, partner)
		case err != nil:
			if ctx.Err() != nil {
				return refProfile{}, ctx.Err()
			}
			return refProfile{}, fmt.Errorf("%w: %w", errReferenceRuntime, err)
		case ref.Sealed != nil:
			p, err := g.openProfile(now, flow.ID, ref.Sealed)
			if err == nil {
				g.refs.results.WithLabelValues("hit").Inc()
				return p, nil
			}
			g.log.Debug("kept reference unreadable, analysing again", "correlation_id", flow.CorrelationID, "err", err)
			g.refs.results.WithLabelValues("reanalysed").Inc()
			return g.loadReference(ctx, flow, partner)
		case claimed:
			p, err := g.loadReference(ctx, flow, partner)
			if err != nil {
				g.refs.results.WithLabelValues("transient").Inc()
				if rerr := rs.ReleaseReference(context.WithoutCancel(ctx), flow.ID, owner); rerr != nil {
					g.log.Warn("release reference", "correlation_id", flow.CorrelationID, "err", rerr)
				}
				return p, err
			}
			g.refs.results.WithLabelValues("loaded").Inc()
			sealed, err := g.sealProfile(g.now(), flow.ID, p)
			if err == nil {
				err = rs.PutReference(context.WithoutCancel(ctx), flow.ID, owner, sealed)
			}
			if err != nil && !errors.Is(err, ErrFlowFinal) && !errors.Is(err, ErrNotFound) {
				g.log.Warn("keep reference", "correlation_id", flow.CorrelationID, "err", err)
			}
			return p, nil
		}
		// Another replica holds the load: wait for its profile or its
		// lease to end.
		select {
		case <-ctx.Done():
			return refProfile{}, ctx.Err()
		case <-time.After(g.cfg.Processing.PollInterval):
		}
	}
}

// storeCheckedReference keeps a profile loaded by reference_check for the
// flow just created (unless one is kept or being loaded already).
func (g *Gateway) storeCheckedReference(ctx context.Context, flow Flow, p refProfile) {
	rs, ok := g.store.(ReferenceStore)
	if !ok {
		return
	}
	owner := g.owner + "/ref/" + strconv.FormatInt(g.refs.seq.Add(1), 10)
	now := g.now()
	_, claimed, err := rs.ClaimReference(ctx, flow.ID, owner, now, now.Add(g.cfg.Processing.Lease))
	if err != nil || !claimed {
		return
	}
	sealed, err := g.sealProfile(now, flow.ID, p)
	if err == nil {
		err = rs.PutReference(ctx, flow.ID, owner, sealed)
	}
	if err != nil {
		g.log.Warn("keep checked reference", "correlation_id", flow.CorrelationID, "err", err)
		rs.ReleaseReference(context.WithoutCancel(ctx), flow.ID, owner)
	}
}
