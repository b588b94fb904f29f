//go:build !cgo

package onnx

import (
	"fmt"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/models"
)

// ortSessions fails in builds without cgo: ONNX Runtime is reached through
// cgo only. inference.engine defaults to "go" in such builds.
func ortSessions(cfg inference.Config, man models.Manifest) (sessionMaker, func(), []any, error) {
	return nil, nil, nil, fmt.Errorf("%w: this binary was built without cgo; set inference.engine = \"go\"", ErrNoRuntime)
}
