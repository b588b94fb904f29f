package inference

import (
	"strings"
	"testing"
)

func TestConfigEngine(t *testing.T) {
	for _, tc := range []struct {
		engine, err string
	}{
		{"", ""},
		{EngineORT, ""},
		{EngineGo, ""},
		{"tflite", `inference.engine: must be "onnxruntime" or "go", got "tflite"`},
	} {
		c := DefaultConfig()
		c.Engine = tc.engine
		err := c.Validate()
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("engine %q: err %v, want %q", tc.engine, err, tc.err)
		}
	}
	if DefaultConfig().Engine != DefaultEngine {
		t.Errorf("default engine %q, want %q", DefaultConfig().Engine, DefaultEngine)
	}
}
