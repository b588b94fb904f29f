package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
)

// worker claims and processes submissions until ctx is cancelled. It sleeps
// until woken by a new submission or Config.Processing.PollInterval.
func (g *Gateway) worker(ctx context.Context, n int) {
	log := g.log.With("worker", n)
	timer := time.NewTimer(0)
	defer timer.Stop()
	seq := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-g.wakeWork:
		}
		for ctx.Err() == nil {
			now := g.now()
			seq++
			owner := fmt.Sprintf("%s/w%d/%d", g.owner, n, seq)
			sub, err := g.store.ClaimSubmission(ctx, owner, now, now.Add(g.cfg.Processing.Lease))
			if errors.Is(err, ErrNotFound) {
				break
			}
			if err != nil {
				if ctx.Err() == nil {
					log.Error("claim submission", "err", err)
				}
				break
			}
			if sub.Claims > 1 {
				// An earlier claim ended without a result: its worker
				// released it (a retry) or its replica stopped and the
				// lease ran out (a takeover).
				log.Info("claimed submission again", "submission_id", sub.ID, "claims", sub.Claims, "owner", owner)
				g.metrics.reclaims.Inc()
			}
			// Another worker may be idle: pass the wake-up on.
			signal(g.wakeWork)
			g.process(ctx, log, sub)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(g.cfg.Processing.PollInterval)
	}
}

// outcome is what processing measured about one submission.
type outcome struct {
	// selfie is the selfie's decision (OK when it has one live face).
	selfie     inference.Decision
	liveness   *float64
	similarity *float64
	// referenceErr is set when the reference could not be fetched or has
	// no usable face.
	referenceErr error
	// submissionReplay: the selfie repeats one of another flow;
	// referenceReplay: it is a copy of the reference. replaySignals names
	// the evidence (for the log).
	submissionReplay bool
	referenceReplay  bool
	replaySignals    []string
	// detail is the partner-safe text of why (Submission.Detail).
	detail string
	// gaveUp is set when the submission was claimed too often without a
	// result.
	gaveUp bool
	// runtimeErr is set when the analyzer or the store failed: the
	// submission is handed back to be tried again.
	runtimeErr error
	// locked is set when the user reached the lockout limit while the
	// submission waited: it is not analysed.
	locked bool
}

// verdict is the decision for one attempt and, when final, for its flow.
type verdict struct {
	status string // api.StatusVerified or api.StatusRejected
	reason string
	final  bool
}

// judge decides an attempt from its outcome, its number (1-based) and the
// allowed attempts:
//
//   - user locked out meanwhile → REJECTED, USER_LOCKED, final;
//   - selfie NO_FACE, MULTIPLE_FACES, LOW_QUALITY, LIVENESS_FAILED (and an
//     undecodable selfie, as LOW_QUALITY) → REJECTED; final only when this
//     was the last attempt;
//   - given up after repeated failures → REJECTED, PROCESSING_ERROR, like
//     a quality rejection;
//   - selfie repeating another flow's → REJECTED, SUBMISSION_REPLAY, final;
//   - reference unavailable → REJECTED, REFERENCE_UNAVAILABLE, final;
//   - selfie copied from the reference → REJECTED, REFERENCE_REPLAY, final;
//   - similarity below matchThreshold → REJECTED, FACE_MISMATCH, final;
//   - otherwise VERIFIED, final.
func judge(o outcome, attempt, maxAttempts int, matchThreshold float64) verdict {
	if o.locked {
		return verdict{api.StatusRejected, api.ReasonUserLocked, true}
	}
	if o.gaveUp {
		return verdict{api.StatusRejected, api.ReasonProcessingError, attempt >= maxAttempts}
	}
	if o.selfie != inference.DecisionOK {
		reason := string(o.selfie)
		switch o.selfie {
		case inference.DecisionNoFace, inference.DecisionMultipleFaces, inference.DecisionLowQuality, inference.DecisionLivenessFailed:
		default: // DECODE_ERROR, TOO_LARGE: the capture is unusable
			reason = api.ReasonLowQuality
		}
		return verdict{api.StatusRejected, reason, attempt >= maxAttempts}
	}
	if o.submissionReplay {
		return verdict{api.StatusRejected, api.ReasonSubmissionReplay, true}
	}
	if o.referenceErr != nil {
		return verdict{api.StatusRejected, api.ReasonReferenceUnavailable, true}
	}
	if o.referenceReplay {
		return verdict{api.StatusRejected, api.ReasonReferenceReplay, true}
	}
	if o.similarity == nil || !MatchAccepted(*o.similarity, matchThreshold) {
		return verdict{api.StatusRejected, api.ReasonFaceMismatch, true}
	}
	return verdict{api.StatusVerified, "", true}
}

// process analyses one claimed submission and records its result.
func (g *Gateway) process(ctx context.Context, log *slog.Logger, sub Submission) {
	start := time.Now()
	flow, err := g.store.FlowByID(ctx, sub.FlowID)
	if err != nil {
		log.Error("load flow of claimed submission", "submission_id", sub.ID, "err", err)
		g.release(ctx, sub)
		return
	}
	partner, ok := g.cfg.partner(flow.PartnerID)
	var o outcome
	switch {
	case sub.Claims > g.cfg.Processing.MaxClaims:
		log.Error("giving up on submission claimed too often", "submission_id", sub.ID, "claims", sub.Claims)
		o.gaveUp = true
	case !ok:
		o.selfie = inference.DecisionOK
		o.referenceErr = fmt.Errorf("partner %q no longer configured", flow.PartnerID)
		o.detail = "partner no longer configured"
	default:
		gaveUp, handBack := g.openSelfie(log, &sub)
		if handBack {
			g.release(ctx, sub)
			return
		}
		o.gaveUp = gaveUp
		if !gaveUp {
			o = g.lockedOrAnalyze(ctx, log, sub, flow, partner)
			clear(sub.Selfie)
		}
	}
	if o.runtimeErr != nil {
		if ctx.Err() != nil {
			return // shutting down: the lease expires and the row is taken again
		}
		log.Error("processing failed, will retry", "submission_id", sub.ID, "claims", sub.Claims, "err", o.runtimeErr)
		g.release(ctx, sub)
		return
	}
	v := judge(o, sub.Attempt, g.cfg.Verification.MaxAttempts, g.cfg.Inference.MatchThreshold)
	now := g.now().UTC()
	res := Result{
		SubmissionID:      sub.ID,
		Owner:             sub.LeaseOwner,
		Status:            v.status,
		Reason:            v.reason,
		Detail:            o.detail,
		Similarity:        o.similarity,
		Liveness:          o.liveness,
		LivenessThreshold: g.cfg.Inference.LivenessThreshold,
		MatchThreshold:    g.cfg.Inference.MatchThreshold,
		ProcessedAt:       now,
		Final:             v.final,
		FlowStatus:        v.status,
		FlowReason:        v.reason,
	}
	if v.final && ok && partner.CallbackURL != "" {
		cb := newCallback(flow, api.EventFlowCompleted, v.status, v.reason, now)
		res.Callback, res.CallbackDeliveryID, res.CallbackEvent = cb.Body, cb.DeliveryID, cb.Event
	}
	// Record even when ctx is being cancelled: the work is done.
	if err := g.store.CompleteSubmission(context.WithoutCancel(ctx), res); err != nil {
		log.Error("record result", "submission_id", sub.ID, "err", err)
		return
	}
	g.waits.changed(sub.FlowID) // status long polls answer now
	g.metrics.decisions.WithLabelValues(v.status, v.reason).Inc()
	if v.reason == api.ReasonReferenceReplay || v.reason == api.ReasonSubmissionReplay {
		g.recordAttack(log, sub, flow, v.reason, o.replaySignals)
	}
	g.metrics.stage.WithLabelValues("total").Observe(time.Since(start).Seconds())
	log.Info("submission decided", "submission_id", sub.ID, "correlation_id", flow.CorrelationID,
		"attempt", sub.Attempt, "status", v.status, "reason", v.reason, "final", v.final,
		"duration_ms", time.Since(start).Milliseconds())
	log.Debug("submission scores", "submission_id", sub.ID, "similarity", deref(o.similarity), "liveness", deref(o.liveness), "device_liveness", deref(sub.DeviceLiveness))
	if res.Callback != nil {
		signal(g.wakeCallback)
	}
}

// release hands a submission back after a transient failure, due again after
// a short backoff.
func (g *Gateway) release(ctx context.Context, sub Submission) {
	retryAt := g.now().Add(time.Duration(sub.Claims) * time.Second)
	if err := g.store.ReleaseSubmission(context.WithoutCancel(ctx), sub.ID, sub.LeaseOwner, retryAt); err != nil {
		g.log.Warn("release submission", "submission_id", sub.ID, "err", err)
	}
}

// analyze decodes and analyses the selfie, then fetches and analyses the
// reference and compares the two embeddings.
func (g *Gateway) analyze(ctx context.Context, sub Submission, flow Flow, partner PartnerConfig) outcome {
	var o outcome
	t := time.Now()
	// Decodes hold their estimated memory of the decode budget until the
	// image is analysed; the worker waits for budget (the submission is
	// already accepted), bounded only by shutdown.
	selfie, extras, err := unpackSelfies(sub.Selfie) // selfieextra.go
	if err != nil {
		o.selfie, o.detail = inference.DecisionDecodeError, "selfie: "+err.Error()
		return o
	}
	img, release, kept := g.decoded.take(selfie) // decoded at upload (decodeonce.go)
	if !kept {
		img, release, err = g.decodeImage(ctx, selfie, g.cfg.selfiePixels())
		g.metrics.stage.WithLabelValues("decode").Observe(time.Since(t).Seconds())
	}
	if errors.Is(err, errDecodeBusy) {
		o.runtimeErr = fmt.Errorf("decode selfie: %w", err)
		return o
	}
	if err != nil {
		o.selfie = inference.DecisionForError(err)
		if o.selfie == "" {
			o.selfie = inference.DecisionDecodeError
		}
		o.detail = "selfie: " + tooLargeMessage(err)
		return o
	}
	t = time.Now()
	a, err := g.analyzer.Analyze(ctx, img, SelfieOptions)
	release()
	img = nil
	g.metrics.stage.WithLabelValues("selfie").Observe(time.Since(t).Seconds())
	if err != nil {
		o.runtimeErr = fmt.Errorf("analyze selfie: %w", err)
		return o
	}
	o.selfie = a.Decision
	face, hasFace := subject(a)
	if hasFace && face.Liveness >= 0 {
		l := face.Liveness
		o.liveness = &l
	}
	samples := g.fuseExtras(ctx, &o, face, hasFace, extras)
	if o.runtimeErr != nil {
		return o
	}
	if o.selfie != inference.DecisionOK {
		return o
	}
	if !hasFace || len(face.Embedding) == 0 {
		o.runtimeErr = errors.New("analyze selfie: OK decision without an embedding")
		return o
	}
	if o.liveness == nil || !LivenessAccepted(*o.liveness, g.cfg.Inference.LivenessThreshold) {
		o.selfie = inference.DecisionLivenessFailed
		return o
	}
	// A live selfie is checked against (and added to) the selfies of
	// other flows before the reference is fetched.
	t = time.Now()
	replayed, err := g.submissionReplay(ctx, sub, face)
	if err == nil && !replayed {
		replayed, err = g.extrasReplay(ctx, sub, extras, samples)
	}
	g.metrics.stage.WithLabelValues("replay").Observe(time.Since(t).Seconds())
	if err != nil {
		o.runtimeErr = err
		return o
	}
	if replayed {
		o.submissionReplay, o.replaySignals = true, []string{"earlier_submission"}
		o.detail = "selfie repeats one submitted in another verification"
		return o
	}

	// The reference was analysed when the flow was initiated (or by an
	// earlier attempt); otherwise it is loaded now (refcache.go).
	t = time.Now()
	ref, err := g.referenceFor(ctx, flow, partner, false)
	if err == nil {
		ref, err = g.matchableReference(ctx, flow, partner, ref, face) // refmodel.go
	}
	g.metrics.stage.WithLabelValues("reference_ready").Observe(time.Since(t).Seconds())
	switch {
	case err != nil && (ctx.Err() != nil || errors.Is(err, errReferenceRuntime)):
		o.runtimeErr = err
		return o
	case err != nil:
		o.referenceErr = err
		o.detail = referenceDetail(err)
		return o
	case ref.Unusable:
		o.referenceErr = refErr(errReferenceUnusable, "%s", ref.Detail)
		o.detail = ref.Detail
		return o
	}
	sim := inference.Cosine(face.Embedding, ref.Embedding)
	o.similarity = &sim
	if ev, ok := ref.evidence(face); ok {
		o.referenceReplay, o.replaySignals = ev.copied()
		if !o.referenceReplay {
			o.referenceReplay, o.replaySignals = extrasReferenceReplay(ref, samples)
		}
		if o.referenceReplay {
			o.detail = "selfie is a copy of the reference image (" + strings.Join(o.replaySignals, ", ") + ")"
		}
		g.log.Debug("reference replay evidence", "submission_id", sub.ID, "phash_distance", ev.Distance,
			"correlation", ev.Correlation, "similarity", ev.Cosine, "replay", o.referenceReplay)
	}
	return o
}

// subject returns the analysis's subject face.
func subject(a inference.Analysis) (inference.Face, bool) {
	if a.Subject < 0 || a.Subject >= len(a.Faces) {
		return inference.Face{}, false
	}
	return a.Faces[a.Subject], true
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
