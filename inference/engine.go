package inference

// Inference engines selectable with inference.engine.
const (
	// EngineORT runs the models with ONNX Runtime (cgo, a shared library
	// per platform; inference/onnx).
	EngineORT = "onnxruntime"
	// EngineGo runs them with the pure-Go engine (inference/goengine): no
	// cgo and no shared library, so it also runs where no ONNX Runtime
	// build exists (linux/arm).
	EngineGo = "go"
)
