package mqtttest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema names, the files docs/schemas/<name>.json.
const (
	SchemaStatus            = "status"
	SchemaEvent             = "event"
	SchemaTelemetry         = "telemetry"
	SchemaCommand           = "command"
	SchemaReply             = "reply"
	SchemaHADiscovery       = "ha-discovery"
	schemaCommandBodyPrefix = "command-body-" // + command name
)

// SchemaCommandBody is the schema name of the body of command name.
func SchemaCommandBody(name string) string { return schemaCommandBodyPrefix + name }

var (
	schemaOnce sync.Once
	schemaDir  string
	schemaErr  error
	schemaMu   sync.Mutex
	compiled   = map[string]*jsonschema.Schema{}
)

// SchemaDir finds docs/schemas by walking up from the working directory.
func SchemaDir(t testing.TB) string {
	t.Helper()
	schemaOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			schemaErr = err
			return
		}
		for {
			p := filepath.Join(dir, "docs", "schemas")
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				schemaDir = p
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				schemaErr = os.ErrNotExist
				return
			}
			dir = parent
		}
	})
	if schemaErr != nil {
		t.Fatalf("docs/schemas not found above the working directory: %v", schemaErr)
	}
	return schemaDir
}

// Validate fails t unless payload is valid against docs/schemas/<name>.json.
func Validate(t testing.TB, name string, payload []byte) {
	t.Helper()
	if err := ValidateErr(t, name, payload); err != nil {
		t.Errorf("%s payload does not match docs/schemas/%s.json: %v\npayload: %s", name, name, err, payload)
	}
}

// ValidateErr validates payload against docs/schemas/<name>.json.
func ValidateErr(t testing.TB, name string, payload []byte) error {
	t.Helper()
	s := compile(t, name)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

func compile(t testing.TB, name string) *jsonschema.Schema {
	t.Helper()
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if s, ok := compiled[name]; ok {
		return s
	}
	path := filepath.Join(SchemaDir(t), name+".json")
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	compiled[name] = s
	return s
}

// SchemaForTopic names the schema of a message on topic under prefix
// (P/D/status → status, …; "" for topics without one).
func SchemaForTopic(prefix, topic string) string {
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	if !ok {
		if strings.HasSuffix(topic, "/config") {
			return SchemaHADiscovery
		}
		return ""
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && parts[1] == "status":
		return SchemaStatus
	case len(parts) == 2 && parts[1] == "events":
		return SchemaEvent
	case len(parts) == 2 && parts[1] == "telemetry":
		return SchemaTelemetry
	case len(parts) == 3 && parts[1] == "cmd":
		return SchemaCommand
	case len(parts) == 4 && parts[1] == "cmd" && parts[3] == "reply":
		return SchemaReply
	}
	return ""
}

// ForbiddenKeys are JSON keys that must never appear in status, events,
// telemetry or discovery: biometric data, identity-revealing scores and
// credentials.
var ForbiddenKeys = []string{
	"score", "scores", "similarity", "distance", "embedding", "embeddings", "template",
	"image", "images", "selfie", "photo", "jpeg", "crop", "face", "faces", "landmarks_points",
	"token", "password", "secret", "live",
}

// AssertNoSecrets fails t when payload has a forbidden key at any depth,
// contains one of the secrets verbatim, or a string long enough to be an
// encoded image.
func AssertNoSecrets(t testing.TB, topic string, payload []byte, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && bytes.Contains(payload, []byte(s)) {
			t.Errorf("%s carries a secret value: %s", topic, payload)
		}
	}
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		t.Errorf("%s: not JSON: %v", topic, err)
		return
	}
	bad := map[string]bool{}
	for _, k := range ForbiddenKeys {
		bad[k] = true
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if bad[strings.ToLower(k)] {
					t.Errorf("%s carries forbidden key %s.%s: %s", topic, path, k, payload)
				}
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(path+"[]", e)
			}
		case string:
			if len(x) > 512 {
				t.Errorf("%s carries a %d-byte string at %s", topic, len(x), path)
			}
		}
	}
	walk("", v)
}
