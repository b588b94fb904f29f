//go:build !cgo

package inference

// DefaultEngine is inference.engine when the config leaves it empty: the
// pure-Go engine in builds without cgo (CGO_ENABLED=0), which cannot load
// ONNX Runtime.
const DefaultEngine = EngineGo
