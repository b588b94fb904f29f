package gateway

import "github.com/faceverify/faceverify/inference"

// SelfieOptions are the inference.Options the gateway analyses a submitted
// selfie with: liveness (authoritative) and the embedding. Evaluation tools
// use them to run the same path.
var SelfieOptions = inference.Options{Liveness: true, Embed: true}

// ReferenceOptions are the inference.Options the gateway analyses the
// partner's reference image with: the embedding only (a reference is a
// photo of a photo or a document, so liveness does not apply), as a
// reference (turned ID-card scans and phone photos, faces down to
// inference.ReferenceMinFaceSize).
var ReferenceOptions = inference.Options{Embed: true, Reference: true}

// MatchAccepted is the gateway's 1:1 rule: a cosine similarity (−1…1) at or
// above the threshold (inference.match_threshold) is a match.
func MatchAccepted(similarity, threshold float64) bool { return similarity >= threshold }

// LivenessAccepted is the gateway's liveness rule: a probability live (0–1)
// at or above the threshold (inference.liveness_threshold) is bona fide.
func LivenessAccepted(probability, threshold float64) bool { return probability >= threshold }
