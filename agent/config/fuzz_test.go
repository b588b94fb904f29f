package agent

import (
	"testing"

	"github.com/BurntSushi/toml"
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
		for k, v := range raw {
			if _, table := v.(map[string]any); table && !agentTables[k] {
				t.Fatalf("accepted unknown table [%s]", k)
			}
		}
		if bareDurations(text) != nil {
			t.Fatalf("accepted a bare-number duration: %q", text)
		}
	})
}
