package onnx

import (
	"fmt"
	"image"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/goengine/mobilefacenet"
	"github.com/faceverify/faceverify/models"
)

// faceEmbedder is the embedding stage of the pipeline: the configured
// tier (inference.embedder) behind one call.
type faceEmbedder interface {
	// Embed computes the L2-normalised embedding of a 112×112 aligned
	// face into dst (nil allocates) and returns it.
	Embed(aligned *image.RGBA, dst []float32) ([]float32, error)
}

// loadsFeature reports whether the engine loads fr_feature.onnx for
// embedder (a value of inference.embedder).
func loadsFeature(embedder string) bool {
	return embedder == "" || embedder == inference.EmbedderFRFeature
}

// newMobileFaceNet compiles tflite/MobileFaceNet.tflite from dir on the
// pure-Go engine, after checking its sha256 against the manifest. The
// model was trained on R,G,B input (see inference/goengine/README.md).
func newMobileFaceNet(man models.Manifest, dir string) (*mobilefacenet.Embedder, error) {
	data, err := readVerified(man, dir, mobilefacenet.File)
	if err != nil {
		return nil, err
	}
	m, err := mobilefacenet.NewBytes(mobilefacenet.File, data, inference.RGB)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", mobilefacenet.File, err)
	}
	return m, nil
}

// embed embeds an aligned 112×112 face with the configured tier and
// returns the embedding and the tier's name (Face.EmbeddingModel).
func (e *Engine) embed(aligned *image.RGBA) ([]float32, string, error) {
	emb, err := e.faces.Embed(aligned, nil)
	if err != nil {
		return nil, "", fmt.Errorf("embed (%s): %w", e.embedder, err)
	}
	return emb, e.embedder, nil
}
