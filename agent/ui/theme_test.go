package ui

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image"
	"image/png"
	"strings"
	"testing"
)

func pngURI(t testing.TB, w, h int) string {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
}

func svgURI(s string) string {
	return "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(s))
}

func TestParseTheme(t *testing.T) {
	cases := []struct {
		name, json string
		field      string // "" = accepted
		msg        string // substring of the message
	}{
		{"empty object keeps the default", `{}`, "", ""},
		{"partner colours", `{"colors":{"primary":"#7b1fa2","background":"#fffdf7","text":"#222"},"font":"system-ui","radius":4}`, "", ""},
		{"low text contrast gives the ratio", `{"colors":{"text":"#999999"}}`, "theme.colors.text", "2.85:1, below WCAG AA 4.5:1"},
		{"text on surface", `{"colors":{"surface":"#555555"}}`, "theme.colors.surface", "below WCAG AA 4.5:1"},
		{"pale primary", `{"colors":{"primary":"#dddddd"}}`, "theme.colors.primary", "below WCAG AA 3.0:1"},
		{"pale error", `{"colors":{"error":"#ffaaaa"}}`, "theme.colors.error", "below WCAG AA 3.0:1"},
		{"not hex", `{"colors":{"primary":"blue"}}`, "theme.colors.primary", "hex colour"},
		{"bad hex digit", `{"colors":{"background":"#ggffff"}}`, "theme.colors.background", "hex colour"},
		{"colour wrong type", `{"colors":{"text":1}}`, "theme.colors.text", "must be a string"},
		{"unknown font", `{"font":"Comic Sans"}`, "theme.font", "bundled fonts"},
		{"radius too large", `{"radius":99}`, "theme.radius", "[0,32]"},
		{"radius negative", `{"radius":-1}`, "theme.radius", "[0,32]"},
		{"unknown field", `{"colour":{}}`, "theme", `unknown field "colour"`},
		{"unknown colour", `{"colors":{"accent":"#000"}}`, "theme", `unknown field "accent"`},
		{"unknown locale", `{"strings":{"fr":{"idle_title":"Bonjour"}}}`, "theme.strings.fr", "unknown locale"},
		{"unknown string key", `{"strings":{"en":{"hello":"x"}}}`, "theme.strings.en.hello", "unknown string key"},
		{"control character", `{"strings":{"id":{"idle_title":"a\u0007b"}}}`, "theme.strings.id.idle_title", "control"},
		{"string override ok", `{"strings":{"id":{"idle_title":"Selamat datang di Bank X"}}}`, "", ""},
		{"logo not a data URI", `{"logo":"https://cdn.example.com/logo.png"}`, "theme.logo", "data URI"},
		{"logo svg with script", `{"logo":"` + svgURI(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`) + `"}`, "theme.logo", "<script> is not allowed"},
		{"logo svg onload", `{"logo":"` + svgURI(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`) + `"}`, "theme.logo", `"onload"`},
		{"logo svg ok", `{"logo":"` + svgURI(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="#0b5cad"/></svg>`) + `"}`, "", ""},
		{"logo png ok", `{"logo":"` + pngURI(t, 64, 32) + `"}`, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			th, err := ParseTheme([]byte(tc.json))
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if th.Validate() != nil || th.Font == "" {
					t.Errorf("accepted theme %+v does not validate", th)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err %v, want a *FieldError for %s", err, tc.field)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Message, tc.msg) {
				t.Errorf("error %q: %q, want field %q with %q", fe.Field, fe.Message, tc.field, tc.msg)
			}
		})
	}
}

func TestContrast(t *testing.T) {
	c := func(s string) [3]float64 {
		v, err := ParseColor(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"#000000", "#ffffff", 21}, {"#ffffff", "#ffffff", 1}, {"#777777", "#ffffff", 4.48}, {"#767676", "#ffffff", 4.54},
		{"#fff", "#000", 21},
	} {
		if got := Contrast(c(tc.a), c(tc.b)); got < tc.want-0.01 || got > tc.want+0.01 {
			t.Errorf("Contrast(%s,%s) = %.3f, want %.2f", tc.a, tc.b, got, tc.want)
		}
	}
	if LabelOnHex("#0b5cad") != "#ffffff" || LabelOnHex("#ffd54f") != "#000000" {
		t.Error("LabelOnHex picks the wrong label colour")
	}
}

func TestValidateLogo(t *testing.T) {
	for _, tc := range []struct {
		name, uri, want string
	}{
		{"too big", "data:image/png;base64," + strings.Repeat("A", MaxLogoBytes), "more than 8192"},
		{"png too wide", pngURI(t, 2000, 10), "2000×10"},
		{"png bytes lie", "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("GIF89a")), "not a PNG"},
		{"bad base64", "data:image/png;base64,@@@", "base64"},
		{"doctype entity", svgURI(`<!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg"/>`), "DTD"},
		{"foreignObject", svgURI(`<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>`), "foreignObject"},
		{"xlink href", svgURI(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="javascript:x"/></svg>`), "<a>"},
		{"external url", svgURI(`<svg xmlns="http://www.w3.org/2000/svg"><rect fill="url(https://x/y)"/></svg>`), "local #id"},
		{"local url ok? no: two roots", svgURI(`<svg xmlns="http://www.w3.org/2000/svg"/><svg/>`), "one <svg> root"},
		{"style element", svgURI(`<svg xmlns="http://www.w3.org/2000/svg"><style>*{}</style></svg>`), "<style>"},
		{"not svg root", svgURI(`<html/>`), "root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateLogo(tc.uri)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ValidateLogo: %v, want an error with %q", err, tc.want)
			}
		})
	}
	ok := svgURI(`<svg xmlns="http://www.w3.org/2000/svg"><defs><linearGradient id="g"><stop offset="0" stop-color="#000"/></linearGradient></defs><rect fill="url(#g)" width="4" height="4"/></svg>`)
	if err := ValidateLogo(ok); err != nil {
		t.Errorf("local gradient refused: %v", err)
	}
}

func TestStringsLocales(t *testing.T) {
	for _, l := range Locales {
		if len(catalog[l]) != len(catalog[DefaultLocale]) {
			t.Errorf("locale %s has %d strings, %s has %d", l, len(catalog[l]), DefaultLocale, len(catalog[DefaultLocale]))
		}
		for k := range catalog[DefaultLocale] {
			if catalog[l][k] == "" {
				t.Errorf("locale %s lacks %s", l, k)
			}
		}
	}
	th := DefaultTheme()
	th.Strings = map[string]map[string]string{"id": {"idle_title": "Halo"}}
	if s := Strings("id", &th); s["idle_title"] != "Halo" || s["verified_title"] != "Terverifikasi" {
		t.Errorf("id strings with override: %q %q", s["idle_title"], s["verified_title"])
	}
	if s := Strings("xx", nil); s["verified_title"] != "Verified" {
		t.Errorf("unknown locale falls back to en, got %q", s["verified_title"])
	}
}

// FuzzParseTheme: any input is either refused with a *FieldError or gives
// a theme that validates and keeps text contrast ≥ 4.5.
func FuzzParseTheme(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"colors":{"text":"#999"}}`))
	f.Add([]byte(`{"logo":"` + svgURI(`<svg xmlns="http://www.w3.org/2000/svg"><rect fill="url(#a)"/></svg>`) + `"}`))
	f.Add([]byte(`{"strings":{"en":{"idle_title":"x"}},"radius":3,"font":"system-ui"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		th, err := ParseTheme(b)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "theme") {
				t.Fatalf("error %v is not a *FieldError naming a theme field", err)
			}
			return
		}
		if err := th.Validate(); err != nil {
			t.Fatalf("parsed theme does not validate: %v", err)
		}
		fg, _ := ParseColor(th.Colors.Text)
		bg, _ := ParseColor(th.Colors.Background)
		if Contrast(fg, bg) < MinTextContrast {
			t.Fatalf("accepted contrast %.2f", Contrast(fg, bg))
		}
	})
}

// FuzzCheckSVG: no accepted SVG contains a script element or an event
// handler attribute.
func FuzzCheckSVG(f *testing.F) {
	f.Add([]byte(`<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0h1"/></svg>`))
	f.Add([]byte(`<svg><script/></svg>`))
	f.Add([]byte(`<svg onload="x"/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if CheckSVG(b) != nil {
			return
		}
		l := strings.ToLower(string(b))
		if strings.Contains(l, "<script") || strings.Contains(l, "javascript:") {
			t.Fatalf("accepted %q", b)
		}
	})
}
