// Package tflitemodel reads TFLite flatbuffer models (schema v3).
package tflitemodel

import (
	"errors"

	"github.com/faceverify/faceverify/inference/goengine/ir"
)

// Read parses a .tflite file.
func Read(name string, data []byte) (*ir.Graph, error) {
	return nil, errors.New("not yet")
}
