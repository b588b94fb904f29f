package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
)

// Replay and injection of known images. Three checks refuse a selfie that
// was not captured live for this flow:
//
//   - REFERENCE_REPLAY: the selfie is the partner's reference image or an
//     edit of it (resize, crop, re-compression, mirror, greyscale, a screen
//     or bezel around it, a small rotation). Decided in analyze, once both
//     faces are aligned, from three signals (referenceEvidence).
//   - SUBMISSION_REPLAY: the selfie repeats one submitted in another flow
//     (any user) within ReplayConfig.Window: the same bytes, or an aligned
//     face crop whose perceptual hash is within ReplayConfig.MaxDistance
//     bits. Only hashes are stored (ReplayStore), never images or
//     embeddings.
//   - signature replay: a device signature already used for another flow
//     or idempotency key is refused (401 signature_replayed); an exact
//     resend of a signed request is the agent's retry after a lost answer
//     and gets the original answer.

// Reference-replay thresholds, measured with the pinned models on
// ../shared/testdata (TestReferenceReplayCalibration prints every value):
// generated edits of the identity photos (resize 0.5×/2×, crop 90 %, JPEG
// q40, mirror, greyscale, bezel with a gradient, rotation ±7°) are within
// 12 bits and correlate ≥ 0.86 with their original (both signals fire on
// every one); genuine same-person pairs are ≥ 20 bits apart and correlate
// ≤ 0.62, with cosine ≤ 0.821 (none of the weaker signals fires).
const (
	// refCopyDistance: a pHash distance (bits of 64) at or below it is a
	// copy on its own.
	refCopyDistance = 12
	// refCopyCorrelation: a luma correlation at or above it is a copy on
	// its own.
	refCopyCorrelation = 0.85
	// refNearDistance, refNearCorrelation and refNearCosine are weaker
	// evidence: two of the three make a copy.
	refNearDistance    = 16
	refNearCorrelation = 0.75
	refNearCosine      = 0.90
)

// replayEvidence compares a selfie's aligned face crop with the reference's.
type replayEvidence struct {
	// Distance is the smallest pHash Hamming distance (bits) between the
	// selfie's crop and the reference's crop, its mirror image, or the
	// reference's mirror image realigned (AlignMirroredFace).
	Distance int
	// Correlation is the largest Pearson correlation of the 32×32 luma
	// grids over the same three, −1…1.
	Correlation float64
	// Cosine is the embedding similarity, −1…1.
	Cosine float64
}

// copied reports whether the evidence says the selfie is a copy of the
// reference, and which signals said so ("phash", "correlation", "cosine").
func (e replayEvidence) copied() (bool, []string) {
	var strong, near []string
	if e.Distance <= refCopyDistance {
		strong = append(strong, "phash")
	}
	if e.Correlation >= refCopyCorrelation {
		strong = append(strong, "correlation")
	}
	if len(strong) > 0 {
		return true, strong
	}
	if e.Distance <= refNearDistance {
		near = append(near, "phash")
	}
	if e.Correlation >= refNearCorrelation {
		near = append(near, "correlation")
	}
	if e.Cosine >= refNearCosine {
		near = append(near, "cosine")
	}
	if len(near) >= 2 {
		return true, near
	}
	return false, nil
}

// faceprint is what the replay checks use of one aligned face crop.
type faceprint struct {
	luma           *inference.Luma
	hash, mirrored inference.PHash
}

// newFaceprint hashes f's aligned crop; ok is false when f has none.
func newFaceprint(f inference.Face) (faceprint, bool) {
	if f.Aligned == nil {
		return faceprint{}, false
	}
	l, err := inference.NewLuma(f.Aligned)
	if err != nil {
		return faceprint{}, false
	}
	h, m := l.PHashes()
	return faceprint{luma: l, hash: h, mirrored: m}, true
}

// referenceEvidence measures how close the selfie face is to the reference
// face found in refImg turned clockwise by rotation degrees
// (Analysis.Rotation). ok is false when either face lacks an aligned crop
// or an embedding (nothing to compare).
func referenceEvidence(selfie, ref inference.Face, refImg image.Image, rotation int) (replayEvidence, bool) {
	if len(ref.Embedding) == 0 {
		return replayEvidence{}, false
	}
	return newRefProfile(ref, refImg, rotation).evidence(selfie)
}

// ReplayConfig is the [replay] table.
type ReplayConfig struct {
	// Window is how long the hashes of selfies are kept: a selfie that
	// repeats one submitted in another flow within Window is
	// SUBMISSION_REPLAY. Older hashes are purged.
	Window time.Duration `toml:"window"`
	// MaxDistance is the largest Hamming distance, in bits of the 64-bit
	// pHash of the aligned face crop, at which two selfies of different
	// flows count as the same image (0–3: four indexed 16-bit bands find
	// every hash within 3 bits). Exact byte repeats are refused at any
	// setting.
	MaxDistance int `toml:"max_distance"`
}

func defaultReplayConfig() ReplayConfig {
	return ReplayConfig{Window: 720 * time.Hour, MaxDistance: 3}
}

func (c ReplayConfig) validate() error {
	if c.Window < time.Hour || c.Window > 366*24*time.Hour {
		return errField("replay.window", "must be in [1h,8784h], got %v", c.Window)
	}
	if c.MaxDistance < 0 || c.MaxDistance > 3 {
		return errField("replay.max_distance", "must be in [0,3], got %d", c.MaxDistance)
	}
	return nil
}

// SelfieHash is what the gateway keeps of a selfie for SUBMISSION_REPLAY:
// two one-way hashes, never the image or its embedding.
type SelfieHash struct {
	SubmissionID string
	FlowID       string
	// Digest is the SHA-256 of the selfie's bytes (32 bytes).
	Digest []byte
	// Face is the pHash of the aligned face crop; valid when HasFace.
	Face    inference.PHash
	HasFace bool
	SeenAt  time.Time
}

// SignatureUse is the first use of a device signature.
type SignatureUse struct {
	// Hash is the SHA-256 of the decoded signature bytes.
	Hash           [32]byte
	FlowID         string
	IdempotencyKey string
	// ExpiresAt is when the signature's timestamp leaves the skew window
	// (timestamp + devices.max_skew); after it the signature is refused
	// as stale and the entry can go.
	ExpiresAt time.Time
}

// ReplayStore keeps the replay caches in the database, so every replica
// agrees. Both gateway/sqlitestore and gateway/pgstore implement it;
// gateway/storetest checks them.
type ReplayStore interface {
	// RecordSelfie returns the selfies of other flows (FlowID ≠ h.FlowID)
	// seen at or after since whose Digest equals h.Digest or whose Face
	// shares one of the four 16-bit bands (PHash.Bands) with one of probes
	// (candidates: the caller checks the full distance), and records h.
	// Lookup and insert are atomic: of two concurrent calls for repeated
	// selfies, the later finds the earlier. A SubmissionID already recorded
	// is not recorded again.
	RecordSelfie(ctx context.Context, h SelfieHash, probes []inference.PHash, since time.Time) ([]SelfieHash, error)
	// PurgeSelfies deletes the hashes seen before before and returns how
	// many were deleted.
	PurgeSelfies(ctx context.Context, before time.Time) (int64, error)
	// UseSignature records u unless its Hash is already recorded; it
	// returns the recorded use and fresh=true when u was recorded now.
	UseSignature(ctx context.Context, u SignatureUse) (recorded SignatureUse, fresh bool, err error)
	// PurgeSignatures deletes uses that expired at or before now and
	// returns how many were deleted.
	PurgeSignatures(ctx context.Context, now time.Time) (int64, error)
}

// replayGuard runs the submission and signature replay checks.
type replayGuard struct {
	cfg     ReplayConfig
	store   ReplayStore
	attacks *prometheus.CounterVec
}

func newReplayGuard(cfg ReplayConfig, store Store, r prometheus.Registerer) (*replayGuard, error) {
	rs, ok := store.(ReplayStore)
	if !ok {
		return nil, errors.New("gateway: Deps.Store must implement ReplayStore (the replay caches)")
	}
	g := &replayGuard{cfg: cfg, store: rs, attacks: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "injection_attacks_total",
		Help: "Refused presentation/injection attacks by kind: reference_replay, submission_replay (final decisions), signature_replay (401).",
	}, []string{"kind"})}
	for _, k := range []string{"reference_replay", "submission_replay", "signature_replay"} {
		g.attacks.WithLabelValues(k)
	}
	if err := r.Register(g.attacks); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return g, nil
}

// submissionReplay records the selfie of sub (its bytes and, when face has
// an aligned crop, its face hash) and reports whether it repeats a selfie
// of another flow within the window. Store failures are returned (the
// submission is then retried).
func (g *Gateway) submissionReplay(ctx context.Context, sub Submission, face inference.Face) (bool, error) {
	selfie, _, err := unpackSelfies(sub.Selfie)
	if err != nil {
		return false, err
	}
	return g.imageReplay(ctx, sub.ID, sub.FlowID, selfie, face)
}

// imageReplay is submissionReplay for one image (data, its subject face)
// of flow flowID, recorded under id.
func (g *Gateway) imageReplay(ctx context.Context, id, flowID string, data []byte, face inference.Face) (bool, error) {
	now := g.now().UTC()
	digest := sha256.Sum256(data)
	h := SelfieHash{SubmissionID: id, FlowID: flowID, Digest: digest[:], SeenAt: now}
	var probes []inference.PHash
	if fp, ok := newFaceprint(face); ok {
		h.Face, h.HasFace = fp.hash, true
		probes = []inference.PHash{fp.hash, fp.mirrored}
	}
	cands, err := g.replay.store.RecordSelfie(ctx, h, probes, now.Add(-g.replay.cfg.Window))
	if err != nil {
		return false, fmt.Errorf("replay cache: %w", err)
	}
	for _, c := range cands {
		if string(c.Digest) == string(h.Digest) {
			return true, nil
		}
		if !c.HasFace {
			continue
		}
		for _, p := range probes {
			if c.Face.Distance(p) <= g.replay.cfg.MaxDistance {
				return true, nil
			}
		}
	}
	return false, nil
}

// checkSignature enforces, for a submission signed by a device, that the
// idempotency key is in the signed body (400 idempotency_key_required) and
// that the signature was not used before for another flow or key (401
// signature_replayed). The same signature with the same flow and key is
// the agent resending a request whose answer it lost: it passes, and
// CreateSubmission answers the original attempt.
func (g *Gateway) checkSignature(r *http.Request, utok Token, req *api.SubmissionRequest) error {
	if req.IdempotencyKey == "" {
		return &httpError{http.StatusBadRequest, api.CodeIdempotencyKeyRequired,
			"idempotency_key: required in the body of a signed submission (it is covered by the device signature)"}
	}
	unix, err1 := strconv.ParseInt(r.Header.Get(api.DeviceTimestampHeader), 10, 64)
	sig, err2 := base64.StdEncoding.DecodeString(r.Header.Get(api.DeviceSignatureHeader))
	if err1 != nil || err2 != nil { // verifyDevice accepted them: cannot happen
		return errors.New("signature headers unreadable after verification")
	}
	u := SignatureUse{
		Hash:           sha256.Sum256(sig),
		FlowID:         utok.FlowID,
		IdempotencyKey: req.IdempotencyKey,
		ExpiresAt:      time.Unix(unix, 0).Add(g.cfg.Devices.MaxSkew).UTC(),
	}
	got, fresh, err := g.replay.store.UseSignature(r.Context(), u)
	if err != nil {
		return fmt.Errorf("signature cache: %w", err)
	}
	if fresh || got.FlowID == u.FlowID && got.IdempotencyKey == u.IdempotencyKey {
		return nil
	}
	g.replay.attacks.WithLabelValues("signature_replay").Inc()
	g.log.Warn("injection attack refused", "attack", "signature_replay", "device_id", req.DeviceID, "flow_id", utok.FlowID)
	return &httpError{http.StatusUnauthorized, api.CodeSignatureReplayed, "device signature already used for another request; sign each request anew"}
}

// recordAttack counts and logs a final replay decision. No biometric data:
// the signals that fired, never scores or hashes.
func (g *Gateway) recordAttack(log *slog.Logger, sub Submission, flow Flow, reason string, signals []string) {
	kind := strings.ToLower(reason)
	g.replay.attacks.WithLabelValues(kind).Inc()
	log.Warn("injection attack refused", "attack", kind, "submission_id", sub.ID, "correlation_id", flow.CorrelationID,
		"client_id", flow.PartnerID, "device_id", sub.DeviceID, "signals", strings.Join(signals, ","))
}

// purgeReplay deletes selfie hashes older than the window and signature
// uses past their skew window.
func (g *Gateway) purgeReplay(ctx context.Context) {
	now := g.now()
	if n, err := g.replay.store.PurgeSelfies(ctx, now.Add(-g.replay.cfg.Window)); err != nil {
		if ctx.Err() == nil {
			g.log.Warn("purge selfie hashes", "err", err)
		}
	} else if n > 0 {
		g.log.Debug("purged selfie hashes", "count", n)
	}
	if n, err := g.replay.store.PurgeSignatures(ctx, now); err != nil {
		if ctx.Err() == nil {
			g.log.Warn("purge signature uses", "err", err)
		}
	} else if n > 0 {
		g.log.Debug("purged signature uses", "count", n)
	}
}
