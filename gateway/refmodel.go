package gateway

import (
	"context"
	"fmt"

	"github.com/faceverify/faceverify/inference"
)

// comparableWith reports whether the profile's embedding and face's come
// from one model (name and length): embeddings of different embedders
// (inference.embedder) live in different spaces, and a cosine between
// them means nothing.
func (p refProfile) comparableWith(face inference.Face) bool {
	return p.EmbeddingModel == face.EmbeddingModel && p.EmbeddingDim == len(face.Embedding) && len(p.Embedding) == p.EmbeddingDim
}

// matchableReference returns ref when its embedding can be compared with
// the selfie's face. A kept reference embedded by another model (the
// embedder was changed, or the gateway upgraded, while the flow was open)
// is fetched and analysed again with the current one; that profile is
// used for this attempt only and not kept (the kept row stays until the
// flow closes, so each later attempt of such a flow analyses it again).
// Errors are those of loadReference, or one wrapping errReferenceRuntime
// when the analyzer still answers with another model than the selfie's.
func (g *Gateway) matchableReference(ctx context.Context, flow Flow, partner PartnerConfig, ref refProfile, face inference.Face) (refProfile, error) {
	if ref.Unusable || ref.comparableWith(face) {
		return ref, nil
	}
	g.log.Info("kept reference embedded by another model, analysing again", "correlation_id", flow.CorrelationID,
		"kept_model", ref.EmbeddingModel, "kept_dim", ref.EmbeddingDim, "model", face.EmbeddingModel, "dim", len(face.Embedding))
	g.refs.results.WithLabelValues("model_changed").Inc()
	p, err := g.loadReference(ctx, flow, partner)
	if err != nil || p.Unusable {
		return p, err
	}
	if !p.comparableWith(face) {
		return refProfile{}, fmt.Errorf("%w: reference embedded by %q (%d-d), selfie by %q (%d-d)",
			errReferenceRuntime, p.EmbeddingModel, p.EmbeddingDim, face.EmbeddingModel, len(face.Embedding))
	}
	return p, nil
}
