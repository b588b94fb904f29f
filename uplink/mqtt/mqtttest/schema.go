package mqtttest

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/faceverify/faceverify/gateway/mqttapi"
)

// Schema names; the schemas are gateway/mqttapi's (mqttapi.Schemas).
const (
	SchemaStatus      = mqttapi.SchemaStatus
	SchemaEvent       = mqttapi.SchemaEvent
	SchemaTelemetry   = mqttapi.SchemaTelemetry
	SchemaCommand     = mqttapi.SchemaCommand
	SchemaReply       = mqttapi.SchemaReply
	SchemaHADiscovery = mqttapi.SchemaHADiscovery
)

// SchemaCommandBody is the schema name of the body of command name.
func SchemaCommandBody(name string) string { return mqttapi.SchemaCommandBody(name) }

var (
	schemaMu sync.Mutex
	compiled = map[string]*jsonschema.Schema{}
)

// Validate fails t unless payload is valid against gateway/mqttapi/schemas/<name>.json.
func Validate(t testing.TB, name string, payload []byte) {
	t.Helper()
	if err := ValidateErr(t, name, payload); err != nil {
		t.Errorf("%s payload does not match gateway/mqttapi/schemas/%s.json: %v\npayload: %s", name, name, err, payload)
	}
}

// ValidateErr validates payload against gateway/mqttapi/schemas/<name>.json.
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
	path := "schemas/" + name + ".json"
	b, err := mqttapi.Schemas.ReadFile(path)
	if err != nil {
		t.Fatalf("schema %s: %v", name, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("schema %s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	url := "mem:///" + path
	if err := c.AddResource(url, doc); err != nil {
		t.Fatalf("schema %s: %v", path, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	compiled[name] = s
	return s
}

// SchemaForTopic names the schema of a message on topic under prefix; see
// mqttapi.SchemaForTopic.
func SchemaForTopic(prefix, topic string) string { return mqttapi.SchemaForTopic(prefix, topic) }

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
