// Package ui holds the kiosk capture screens the agent serves on its
// loopback listener under /ui/ (HTML, CSS, JavaScript and fonts embedded
// with go:embed; nothing is fetched at run time), the partner's theme and
// its validation, the bundled strings (English and Bahasa Indonesia) and
// the live-preview encoder. The HTTP handlers live in package agent
// (agent/ui.go), which owns the session.
package ui

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Theme is the partner's look for the capture screens, sent with a launch
// as "theme" (POST /v1/verify, MQTT cmd/verify). Every field is optional;
// absent fields keep DefaultTheme's value.
//
//	{"colors": {"primary":"#0b5cad","background":"#ffffff","surface":"#f2f4f7",
//	            "text":"#1a1a1a","success":"#0a7d32","error":"#b3261e"},
//	 "font": "atkinson-hyperlegible" | "system-ui",
//	 "radius": 12,                     // px, 0–32
//	 "logo": "data:image/png;base64,…" // or data:image/svg+xml;base64,…, ≤ MaxLogoBytes
//	 "strings": {"en": {"idle_title": "Welcome to Bank X"}, "id": {…}}}
type Theme struct {
	Colors  Colors                       `json:"colors"`
	Font    string                       `json:"font"`
	Radius  int                          `json:"radius"`
	Logo    string                       `json:"logo,omitempty"`
	Strings map[string]map[string]string `json:"strings,omitempty"`
}

// Colors are CSS hex colours, "#rrggbb" or "#rgb".
type Colors struct {
	Primary    string `json:"primary"`    // buttons, progress, oval
	Background string `json:"background"` // page
	Surface    string `json:"surface"`    // cards
	Text       string `json:"text"`       // body text on background and surface
	Success    string `json:"success"`    // verified heading and icon
	Error      string `json:"error"`      // failure headings and icons
}

// Fonts are the families bundled with the screens: Atkinson Hyperlegible
// (OFL-1.1, assets/fonts) and the platform's system-ui stack.
var Fonts = []string{"atkinson-hyperlegible", "system-ui"}

// Limits of a theme.
const (
	// MaxLogoBytes bounds the logo data URI (launch bodies and MQTT
	// commands are at most 16 KiB).
	MaxLogoBytes = 8 << 10
	// MaxLogoSide bounds a PNG logo's width and height, px.
	MaxLogoSide = 1024
	// MaxRadius is the largest corner radius, px.
	MaxRadius = 32
	// MinTextContrast is WCAG 2.1 AA for normal text (1.4.3): text on
	// background and on surface, and button labels on primary.
	MinTextContrast = 4.5
	// MinGraphicContrast is WCAG 2.1 AA for large text and graphical
	// objects (1.4.3, 1.4.11): primary, success and error on background.
	MinGraphicContrast = 3.0
)

// DefaultTheme is used when a launch carries no theme: dark text on white,
// a blue that passes AA with white labels.
func DefaultTheme() Theme {
	return Theme{
		Colors: Colors{Primary: "#0b5cad", Background: "#ffffff", Surface: "#eef2f7",
			Text: "#1a1a1a", Success: "#0a7d32", Error: "#b3261e"},
		Font:   "atkinson-hyperlegible",
		Radius: 12,
	}
}

// FieldError is a refused theme: Field is the dotted JSON path
// ("theme.colors.text"), Message says why (for contrast, with the
// computed ratio).
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func bad(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ParseTheme decodes a theme over DefaultTheme and validates it. Unknown
// fields are refused by name. Errors are *FieldError.
func ParseTheme(raw []byte) (Theme, error) {
	t := DefaultTheme()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Theme{}, bad("theme."+te.Field, "must be a %s", te.Type.String())
		}
		if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
			name := strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
			return Theme{}, bad("theme", "unknown field %q (known: colors, font, radius, logo, strings)", name)
		}
		return Theme{}, bad("theme", "must be a JSON object: %v", err)
	}
	if dec.More() {
		return Theme{}, bad("theme", "must be one JSON object")
	}
	if err := t.Validate(); err != nil {
		return Theme{}, err
	}
	return t, nil
}

// Validate checks every field: colours are hex, font is bundled, radius in
// [0,MaxRadius], the logo a PNG or safe SVG data URI, strings known keys of
// bundled locales, and the WCAG AA contrasts. Errors are *FieldError.
func (t Theme) Validate() error {
	cols := []struct {
		name, v string
	}{{"primary", t.Colors.Primary}, {"background", t.Colors.Background}, {"surface", t.Colors.Surface},
		{"text", t.Colors.Text}, {"success", t.Colors.Success}, {"error", t.Colors.Error}}
	rgb := map[string][3]float64{}
	for _, c := range cols {
		v, err := ParseColor(c.v)
		if err != nil {
			return bad("theme.colors."+c.name, "%v", err)
		}
		rgb[c.name] = v
	}
	contrast := func(field, a, b string, minRatio float64, what string) error {
		r := Contrast(rgb[a], rgb[b])
		if r < minRatio {
			return bad(field, "contrast of %s %s on %s %s is %.2f:1, below WCAG AA %.1f:1 for %s",
				a, colorOf(t, a), b, colorOf(t, b), r, minRatio, what)
		}
		return nil
	}
	for _, c := range []struct {
		field, fg, bg string
		min           float64
		what          string
	}{
		{"theme.colors.text", "text", "background", MinTextContrast, "text"},
		{"theme.colors.surface", "text", "surface", MinTextContrast, "text"},
		{"theme.colors.primary", "primary", "background", MinGraphicContrast, "buttons and the face oval"},
		{"theme.colors.success", "success", "background", MinGraphicContrast, "large text and icons"},
		{"theme.colors.error", "error", "background", MinGraphicContrast, "large text and icons"},
	} {
		if err := contrast(c.field, c.fg, c.bg, c.min, c.what); err != nil {
			return err
		}
	}
	if r := Contrast(rgb["primary"], LabelOn(rgb["primary"])); r < MinTextContrast {
		return bad("theme.colors.primary", "neither white nor black labels reach %.1f:1 on %s (best %.2f:1)",
			MinTextContrast, t.Colors.Primary, r)
	}
	if !contains(Fonts, t.Font) {
		return bad("theme.font", "must be one of the bundled fonts %s, got %q", strings.Join(Fonts, ", "), t.Font)
	}
	if t.Radius < 0 || t.Radius > MaxRadius {
		return bad("theme.radius", "must be in [0,%d] px, got %d", MaxRadius, t.Radius)
	}
	if t.Logo != "" {
		if err := ValidateLogo(t.Logo); err != nil {
			return bad("theme.logo", "%v", err)
		}
	}
	locales := make([]string, 0, len(t.Strings))
	for l := range t.Strings {
		locales = append(locales, l)
	}
	sort.Strings(locales)
	for _, l := range locales {
		if !KnownLocale(l) {
			return bad("theme.strings."+l, "unknown locale (bundled: %s)", strings.Join(Locales, ", "))
		}
		keys := make([]string, 0, len(t.Strings[l]))
		for k := range t.Strings[l] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			field := "theme.strings." + l + "." + k
			if _, ok := catalog[l][k]; !ok {
				return bad(field, "unknown string key")
			}
			if err := checkText(t.Strings[l][k]); err != nil {
				return bad(field, "%v", err)
			}
		}
	}
	return nil
}

func colorOf(t Theme, name string) string {
	switch name {
	case "primary":
		return t.Colors.Primary
	case "background":
		return t.Colors.Background
	case "surface":
		return t.Colors.Surface
	case "text":
		return t.Colors.Text
	case "success":
		return t.Colors.Success
	}
	return t.Colors.Error
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("must be UTF-8")
	}
	if s == "" {
		return errors.New("must not be empty")
	}
	if n := utf8.RuneCountInString(s); n > MaxStringRunes {
		return fmt.Errorf("longer than %d characters (%d)", MaxStringRunes, n)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return errors.New("must not contain control characters")
		}
	}
	return nil
}

// ParseColor reads "#rrggbb" or "#rgb" into sRGB components 0–1.
func ParseColor(s string) ([3]float64, error) {
	var out [3]float64
	if len(s) == 4 && s[0] == '#' {
		s = "#" + string([]byte{s[1], s[1], s[2], s[2], s[3], s[3]})
	}
	if len(s) != 7 || s[0] != '#' {
		return out, fmt.Errorf("must be a hex colour \"#rrggbb\" or \"#rgb\", got %q", s)
	}
	for i := 0; i < 3; i++ {
		v, err := strconv.ParseUint(s[1+2*i:3+2*i], 16, 8)
		if err != nil {
			return out, fmt.Errorf("must be a hex colour \"#rrggbb\" or \"#rgb\", got %q", s)
		}
		out[i] = float64(v) / 255
	}
	return out, nil
}

// luminance is WCAG 2.1 relative luminance of an sRGB colour.
func luminance(c [3]float64) float64 {
	lin := func(v float64) float64 {
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c[0]) + 0.7152*lin(c[1]) + 0.0722*lin(c[2])
}

// Contrast is the WCAG 2.1 contrast ratio of two colours, 1–21.
func Contrast(a, b [3]float64) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// LabelOn returns white or black, whichever contrasts more with bg: the
// label colour of buttons on the primary colour.
func LabelOn(bg [3]float64) [3]float64 {
	white, black := [3]float64{1, 1, 1}, [3]float64{0, 0, 0}
	if Contrast(white, bg) >= Contrast(black, bg) {
		return white
	}
	return black
}

// LabelOnHex is LabelOn for a valid hex colour: "#ffffff" or "#000000".
func LabelOnHex(hex string) string {
	c, err := ParseColor(hex)
	if err == nil && LabelOn(c) == [3]float64{0, 0, 0} {
		return "#000000"
	}
	return "#ffffff"
}

// ValidateLogo accepts a base64 data URI of a PNG (≤ MaxLogoSide px a
// side) or an SVG without scripts, event handlers, external references,
// foreignObject, DTDs or style; at most MaxLogoBytes long. The screens show
// it in an <img>, where browsers run no script anyway; refusing keeps a
// hostile logo out of the agent altogether.
func ValidateLogo(uri string) error {
	if len(uri) > MaxLogoBytes {
		return fmt.Errorf("data URI is %d bytes, more than %d", len(uri), MaxLogoBytes)
	}
	var mediaType string
	switch {
	case strings.HasPrefix(uri, "data:image/png;base64,"):
		mediaType = "png"
	case strings.HasPrefix(uri, "data:image/svg+xml;base64,"):
		mediaType = "svg"
	default:
		return errors.New(`must be a data URI "data:image/png;base64,…" or "data:image/svg+xml;base64,…"`)
	}
	data, err := base64.StdEncoding.DecodeString(uri[strings.IndexByte(uri, ',')+1:])
	if err != nil {
		return fmt.Errorf("base64: %v", err)
	}
	if mediaType == "png" {
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("not a PNG image: %v", err)
		}
		if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxLogoSide || cfg.Height > MaxLogoSide {
			return fmt.Errorf("PNG is %d×%d px, sides must be 1–%d", cfg.Width, cfg.Height, MaxLogoSide)
		}
		return nil
	}
	return CheckSVG(data)
}

// svgElements are the SVG elements a logo may use: shapes, text, groups
// and gradients. Anything else (script, foreignObject, image, use, a,
// style, animate, set, iframe, …) is refused.
var svgElements = map[string]bool{
	"svg": true, "g": true, "path": true, "rect": true, "circle": true, "ellipse": true,
	"line": true, "polyline": true, "polygon": true, "text": true, "tspan": true,
	"defs": true, "lineargradient": true, "radialgradient": true, "stop": true,
	"title": true, "desc": true, "clippath": true,
}

// svgAttrs are the attributes a logo may use (lower case; namespaced
// attributes other than xmlns declarations are refused).
var svgAttrs = map[string]bool{
	"xmlns": true, "version": true, "viewbox": true, "width": true, "height": true,
	"x": true, "y": true, "x1": true, "y1": true, "x2": true, "y2": true,
	"cx": true, "cy": true, "r": true, "rx": true, "ry": true, "d": true, "points": true,
	"fill": true, "fill-opacity": true, "fill-rule": true, "clip-rule": true, "stroke": true,
	"stroke-width": true, "stroke-opacity": true, "stroke-linecap": true, "stroke-linejoin": true,
	"stroke-miterlimit": true, "opacity": true, "transform": true, "id": true, "class": true,
	"offset": true, "stop-color": true, "stop-opacity": true, "gradientunits": true,
	"gradienttransform": true, "clip-path": true, "font-family": true, "font-size": true,
	"font-weight": true, "text-anchor": true, "preserveaspectratio": true, "dx": true, "dy": true,
}

// CheckSVG refuses an SVG document that is not plain drawing: elements
// and attributes outside the allow-lists, DTDs and entities, processing
// instructions other than the XML declaration, and url(…) references other
// than to a local "#id".
func CheckSVG(data []byte) error {
	if !utf8.Valid(data) {
		return errors.New("SVG is not UTF-8")
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			name := strings.ToLower(tok.Name.Local)
			if depth == 0 {
				roots++
				if name != "svg" || roots > 1 {
					return errors.New("SVG must have one <svg> root element")
				}
			}
			if !svgElements[name] {
				return fmt.Errorf("SVG element <%s> is not allowed (scripts, links, images, styles and foreign content are refused)", tok.Name.Local)
			}
			for _, a := range tok.Attr {
				an := strings.ToLower(a.Name.Local)
				space := strings.ToLower(a.Name.Space)
				if space == "xmlns" || (space == "" && an == "xmlns") {
					continue
				}
				if space != "" || !svgAttrs[an] {
					return fmt.Errorf("SVG attribute %q on <%s> is not allowed", a.Name.Local, tok.Name.Local)
				}
				if err := checkSVGValue(a.Value); err != nil {
					return fmt.Errorf("SVG attribute %q on <%s>: %v", a.Name.Local, tok.Name.Local, err)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.Directive:
			return errors.New("SVG must not contain a DTD or entity declarations")
		case xml.ProcInst:
			if tok.Target != "xml" {
				return fmt.Errorf("SVG processing instruction <?%s?> is not allowed", tok.Target)
			}
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(tok)) > 0 {
				return errors.New("SVG has text outside its root element")
			}
		}
	}
	if roots != 1 {
		return errors.New("SVG must have one <svg> root element")
	}
	return nil
}

func checkSVGValue(v string) error {
	l := strings.ToLower(v)
	for _, bad := range []string{"javascript:", "data:", "expression(", "@import", "<"} {
		if strings.Contains(l, bad) {
			return fmt.Errorf("must not contain %q", bad)
		}
	}
	for i := strings.Index(l, "url("); i >= 0; i = strings.Index(l, "url(") {
		rest := strings.TrimLeft(l[i+4:], " '\"")
		if !strings.HasPrefix(rest, "#") {
			return errors.New("url() may only reference a local #id")
		}
		l = l[i+4:]
	}
	return nil
}
