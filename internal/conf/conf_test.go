package conf

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

type Inner struct {
	Device  string        `toml:"device" nonempty:"true" when:"net.source=cam" rule:"must name the camera"`
	Buffers int           `toml:"buffers" min:"2" max:"32" when:"net.source=cam"`
	Timeout time.Duration `toml:"frame_timeout" min:"100ms" max:"1m"`
}

type netConf struct {
	Source    string        `toml:"source" oneof:"replay|cam"`
	KeepAlive time.Duration `toml:"keepalive" min:"5s"`
	FPS       float64       `toml:"fps" gt:"0" max:"120"`
	Side      int           `toml:"side" min:"112" max:"4096" unit:"pixels"`
	Telemetry time.Duration `toml:"telemetry" off:"true" min:"1s" max:"1h"`
	Level     string        `toml:"level" oneof:"debug|info" case:"fold"`
	Secret    string        `toml:"-"`
	Inner
}

type part struct {
	ID    string   `toml:"id"`
	Flows []string `toml:"flows"`
}

type spoolConf struct {
	Enabled bool `toml:"enabled"`
	Count   int  `toml:"max_count" min:"1" when:"spool.enabled"`
}

type testConf struct {
	Listen string      `toml:"listen"`
	Net    netConf     `toml:"net"`
	Spool  spoolConf   `toml:"spool"`
	Parts  []part      `toml:"parts"`
	Other  *spoolConf  `toml:"other"`
	Map    map[int]int `toml:"map"`
}

func defaults() testConf {
	return testConf{
		Listen: "x",
		Net: netConf{Source: "replay", KeepAlive: 30 * time.Second, FPS: 10, Side: 640, Level: "info",
			Inner: Inner{Device: "/dev/video0", Buffers: 3, Timeout: time.Second}},
		Spool: spoolConf{Enabled: true, Count: 5},
	}
}

func TestDecode(t *testing.T) {
	cases := []struct {
		name, text string
		opts       Options
		want       string // "" = no error
	}{
		{"valid", "listen = \"y\"\n[net]\nkeepalive = \"10s\"\ndevice = \"C920\"\n[[parts]]\nid = \"a\"\n", Options{}, ""},
		{"unknown key with line and suggestion", "[net]\n\nkeepalve = \"10s\"\n", Options{},
			"unknown key net.keepalve (line 3; did you mean net.keepalive?)"},
		{"unknown key in an embedded struct", "[net]\ndevise = \"x\"\n", Options{}, "unknown key net.devise (line 2; did you mean net.device?)"},
		{"unknown key in an array of tables", "[[parts]]\nid = \"a\"\n[[parts]]\nflowz = []\n", Options{},
			"unknown key parts.flowz (line 4; did you mean parts.flows?)"},
		{"dotted key", "net.fsp = 3\n", Options{}, "unknown key net.fsp (line 1; did you mean net.fps?)"},
		{"far from every key", "[net]\ncolour = 1\n", Options{}, "unknown key net.colour (line 2)"},
		{"hint", "[net]\nsecret = \"x\"\n", Options{Hints: map[string]string{"net.secret": "it comes from ENV"}}, "unknown key net.secret (line 2): it comes from ENV"},
		{"toml:\"-\" is unknown", "[net]\nSecret = \"x\"\n", Options{}, "unknown key net.Secret"},
		{"two unknown keys", "a = 1\nb = 2\n", Options{}, "unknown key a (line 1); unknown key b (line 2)"},
		{"unknown table", "[nte]\nx = 1\n", Options{Program: "test"}, "unknown table [nte] (did you mean [net]?); the test's tables are net, other, parts, spool"},
		{"unknown tables", "[nte]\n[zzz]\n", Options{}, "unknown tables [nte] (did you mean [net]?), [zzz]"},
		{"syntax error", "[net]\nfps = = 1\n", Options{}, "line 2:"},
		{"type error", "[net]\nfps = \"fast\"\n", Options{}, "line 2"},
		{"bad duration", "[net]\nkeepalive = \"6 parsecs\"\n", Options{}, `write a number with a unit`},
		{"bare duration", "[net]\nkeepalive = 30\n", Options{}, `net.keepalive: a duration must be a string with a unit, like keepalive = "30s"`},
		{"float duration", "[net]\nframe_timeout = 1.5\n", Options{}, `net.frame_timeout: a duration must be a string with a unit, like frame_timeout = "1.5s"`},
		{"only: other tables ignored", "[gateway]\nx = 1\n[net]\nfps = 2\n", Options{Only: []string{"net"}}, ""},
		{"only: unknown key in its table", "[gateway]\nx = 1\n[net]\nfsp = 2\n", Options{Only: []string{"net"}}, "unknown key net.fsp"},
		{"key inside a multi-line string is not a key", "listen = \"\"\"\nnot = a key\n\"\"\"\nzz = 1\n", Options{}, "unknown key zz (line 4)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := defaults()
			_, err := Decode(tc.text, &c, tc.opts)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Decode = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	c := defaults()
	if _, err := Decode("[net]\nkeepalive = \"10s\"\nfps = 2.5\n", &c, Options{}); err != nil || c.Net.KeepAlive != 10*time.Second || c.Net.FPS != 2.5 || c.Net.Side != 640 {
		t.Errorf("decode over defaults: %v %+v", err, c.Net)
	}
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*testConf)
		want   string
	}{
		{"defaults", func(*testConf) {}, ""},
		{"min duration", func(c *testConf) { c.Net.KeepAlive = 0 }, "net.keepalive: must be ≥ 5s, got 0s"},
		{"open interval", func(c *testConf) { c.Net.FPS = 0 }, "net.fps: must be in (0,120], got 0"},
		{"above max", func(c *testConf) { c.Net.FPS = 121 }, "net.fps: must be in (0,120], got 121"},
		{"NaN", func(c *testConf) { c.Net.FPS = math.NaN() }, "net.fps: must be in (0,120], got NaN"},
		{"unit", func(c *testConf) { c.Net.Side = 100 }, "net.side: must be in [112,4096] pixels, got 100"},
		{"off is allowed", func(c *testConf) { c.Net.Telemetry = 0 }, ""},
		{"off or range", func(c *testConf) { c.Net.Telemetry = time.Millisecond }, "net.telemetry: must be 0s (off) or in [1s,1h], got 1ms"},
		{"oneof", func(c *testConf) { c.Net.Source = "v4l3" }, `net.source: must be "replay" or "cam", got "v4l3"`},
		{"oneof folded", func(c *testConf) { c.Net.Level = "DEBUG" }, ""},
		{"oneof folded, unknown", func(c *testConf) { c.Net.Level = "loud" }, `net.level: must be "debug" or "info", got "loud"`},
		{"when off", func(c *testConf) { c.Net.Buffers = 0; c.Net.Device = "" }, ""},
		{"when on, nonempty with rule", func(c *testConf) { c.Net.Source = "cam"; c.Net.Device = " " }, "net.device: must name the camera"},
		{"when on, embedded field", func(c *testConf) { c.Net.Source = "cam"; c.Net.Buffers = 1 }, "net.buffers: must be in [2,32], got 1"},
		{"embedded field without when", func(c *testConf) { c.Net.Timeout = time.Hour }, "net.frame_timeout: must be in [100ms,1m], got 1h0m0s"},
		{"when on a boolean", func(c *testConf) { c.Spool.Count = 0 }, "spool.max_count: must be ≥ 1, got 0"},
		{"when on a false boolean", func(c *testConf) { c.Spool.Count = 0; c.Spool.Enabled = false }, ""},
		{"pointer table", func(c *testConf) { c.Other = &spoolConf{Enabled: true} }, "other.max_count: must be ≥ 1, got 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := defaults()
			tc.mutate(&c)
			err := Check(c, "")
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check = %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Check = %v, want %q", err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(tc.want, fe.Field+": ") {
				t.Errorf("not a *FieldError naming the field: %#v", err)
			}
		})
	}
	c := defaults()
	c.Net.KeepAlive = 0
	if err := Check(&c.Net, "net"); err == nil || err.Error() != "net.keepalive: must be ≥ 5s, got 0s" {
		t.Errorf("Check with a prefix = %v", err)
	}
}

func TestDiff(t *testing.T) {
	a, b := defaults(), defaults()
	b.Net.FPS, b.Net.Buffers, b.Net.Secret = 3, 9, "changed"
	b.Parts = []part{{ID: "x"}}
	got := Diff(a, b)
	if want := []string{"net.fps", "net.buffers", "parts"}; !slices.Equal(got, want) {
		t.Errorf("Diff = %q, want %q", got, want)
	}
	if got := Diff(a, a); len(got) != 0 {
		t.Errorf("Diff(a, a) = %q", got)
	}
}

func TestKeyLines(t *testing.T) {
	text := "top = 1\n# c = 2\n[a.\"b.c\"]\nd = 1\n  e.f = 'x=y'\n[[arr]]\ng = '''\nh = 1\n'''\ni = 2\n"
	got := keyLines(text)
	want := map[string]int{"top": 1, "a.b.c": 3, "a.b.c.d": 4, "a.b.c.e": 5, "a.b.c.e.f": 5, "arr": 6, "arr.g": 7, "arr.i": 10}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("line of %s = %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if _, ok := got["arr.h"]; ok {
		t.Errorf("a line inside a multi-line string taken for a key")
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"[net]\nkeepalive = \"1s\"\n", "[[parts]]\nid = \"a\"\nx = 1\n", "a.b.\"c\" = '''\n=\n'''", "[nte]\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c := defaults()
		_, _ = Decode(text, &c, Options{})
		keyLines(text)
	})
}
