package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/faceverify/faceverify/internal/conf"
)

// FuzzDecodeConfig: the config decoder never panics, and a text it accepts
// has no unknown table and no bare-number duration.
func FuzzDecodeConfig(f *testing.F) {
	for _, s := range []string{
		"[mqtt]\nkeepalive = \"30s\"\n", "[mqtt]\nkeepalive = 30\n", "[sesion]\nx = 1\n", "session.timeout = 45\n",
		"[capture]\nwindow = 1.5\n", "[[sessions]]\n", "a = 1\n", "[capture]\nsource = \"v4l2\"\nframe_timeout = \"2s\"\n",
		"[mqtt]\nkeepalive = \"30\"\n", "[device]\nid = \"k\"\n[metrics]\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if _, err := Decode(text); err != nil {
			return
		}
		var raw map[string]any
		if _, err := toml.Decode(text, &raw); err != nil {
			t.Fatalf("Decode accepted text the TOML parser refuses: %v", err)
		}
		known := map[string]bool{}
		durations := map[string]bool{}
		conf.Walk(reflect.TypeFor[Config](), func(f conf.Field) bool {
			known[f.Key] = true
			if f.Type == reflect.TypeFor[time.Duration]() {
				durations[f.Key] = true
			}
			return true
		})
		for k, v := range raw {
			if _, table := v.(map[string]any); table && !known[k] {
				t.Fatalf("accepted unknown table [%s]", k)
			}
		}
		for k := range durations {
			table, name, _ := strings.Cut(k, ".")
			if m, ok := raw[table].(map[string]any); ok {
				if v, ok := m[name]; ok {
					if _, isString := v.(string); !isString {
						t.Fatalf("accepted a bare-number duration %s = %v", k, v)
					}
				}
			}
		}
	})
}
