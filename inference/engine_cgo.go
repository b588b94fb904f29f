//go:build cgo

package inference

// DefaultEngine is inference.engine when the config leaves it empty: ONNX
// Runtime in cgo builds.
const DefaultEngine = EngineORT
