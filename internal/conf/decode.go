// Package conf is the one configuration mechanism of the agent, the
// gateway and the command-line tools: strict TOML decoding over defaults
// (github.com/BurntSushi/toml) and limits declared in struct tags, checked
// by one reflection walker (Walk).
//
// A configuration is a struct whose fields carry toml tags. Decode reads a
// TOML document over a value holding the defaults and refuses what the
// struct does not know: unknown keys and tables are named with their line
// and, for a near miss, the key meant; a duration written as a bare number
// (which the decoder would read as nanoseconds) is refused with the string
// to write instead. Check then enforces the limits written next to each
// field (see Check for the tags) and returns a *FieldError naming the
// dotted field, its value and the rule:
//
//	mqtt.keepalive: must be ≥ 5s, got 0s
//
// Rules that relate two fields or parse a value (URLs, addresses) stay as
// code in the owner's Validate, which calls Check first.
package conf

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// Options tune Decode.
type Options struct {
	// Program names the program in the unknown-table error ("the agent's
	// tables are ..."); "" leaves the list of tables out.
	Program string
	// Only, when non-empty, lists the top-level tables this decode reads;
	// every other key and table of the document is ignored (a tool that
	// reads its table from another program's file).
	Only []string
	// Hints maps a dotted key (without array indexes) to a sentence
	// appended to the unknown-key error, e.g. where a secret comes from
	// instead.
	Hints map[string]string
}

// Decode parses the TOML text over *v (a pointer to a struct holding the
// defaults) and returns the metadata. Errors, in the order checked:
//   - a syntax or type error: "line N: <decoder message>", with a hint for
//     an unparsable duration string;
//   - a duration written as a number: "<key>: a duration must be a string
//     with a unit, like <name> = \"30s\" (ns, us, ms, s, m, h), got 30";
//   - unknown top-level tables: "unknown table [sesion] (did you mean
//     [session]?)", listing every one;
//   - unknown keys: "unknown key mqtt.keepalve (line 2; did you mean
//     mqtt.keepalive?)", listing every one, with opts.Hints.
//
// On error *v may be partly decoded.
func Decode(text string, v any, opts Options) (toml.MetaData, error) {
	s := schemaOf(reflect.TypeOf(v))
	if err := s.bareDurations(text, opts); err != nil {
		return toml.MetaData{}, err
	}
	md, err := toml.Decode(text, v)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return md, fmt.Errorf("line %d: %s%s", pe.Position.Line, pe.Message, durationHint(pe.Message))
		}
		return md, err
	}
	if err := s.unknownTables(md, opts); err != nil {
		return md, err
	}
	lines := keyLines(text)
	var msgs []string
	for _, k := range md.Undecoded() {
		if !opts.reads(k) {
			continue
		}
		if s.tables[k.String()] {
			continue // a table whose keys are reported themselves
		}
		ks := k.String()
		var notes []string
		if n, ok := lines[ks]; ok {
			notes = append(notes, fmt.Sprintf("line %d", n))
		}
		if near := s.nearestKey(k); near != "" {
			notes = append(notes, "did you mean "+near+"?")
		}
		msg := "unknown key " + ks
		if len(notes) > 0 {
			msg += " (" + strings.Join(notes, "; ") + ")"
		}
		if h := opts.Hints[ks]; h != "" {
			msg += ": " + h
		}
		msgs = append(msgs, msg)
	}
	if len(msgs) > 0 {
		return md, errors.New(strings.Join(msgs, "; "))
	}
	return md, nil
}

// reads reports whether the decode is concerned with key k.
func (o Options) reads(k toml.Key) bool {
	return len(o.Only) == 0 || len(k) > 0 && slices.Contains(o.Only, k[0])
}

// schema is what a configuration type accepts, from Walk over its type.
type schema struct {
	keys      map[string]bool // every dotted key (no indexes)
	tables    map[string]bool // keys that are tables or arrays of tables
	durations map[string]bool // keys of time.Duration fields
	top       []string        // top-level tables, sorted
}

func schemaOf(t reflect.Type) schema {
	s := schema{keys: map[string]bool{}, tables: map[string]bool{}, durations: map[string]bool{}}
	Walk(t, func(f Field) bool {
		s.keys[f.Key] = true
		if f.Table() {
			s.tables[f.Key] = true
			if !strings.Contains(f.Key, ".") {
				s.top = append(s.top, f.Key)
			}
		}
		if f.Type == durationType {
			s.durations[f.Key] = true
		}
		return true
	})
	slices.Sort(s.top)
	return s
}

// unknownTables rejects top-level tables (and dotted keys whose first part
// is one) the type does not have. A plain top-level key is left to the
// unknown-key check.
func (s schema) unknownTables(md toml.MetaData, opts Options) error {
	var bad []string
	for _, k := range md.Keys() {
		if len(k) == 0 || s.keys[k[0]] || slices.Contains(bad, k[0]) || !opts.reads(k) {
			continue
		}
		if len(k) == 1 && md.Type(k...) != "Hash" && md.Type(k...) != "ArrayHash" {
			continue
		}
		bad = append(bad, k[0])
	}
	if len(bad) == 0 {
		return nil
	}
	var parts []string
	for _, b := range bad {
		p := "[" + b + "]"
		if near := nearest(strings.ToLower(b), s.top); near != "" {
			p += " (did you mean [" + near + "]?)"
		}
		parts = append(parts, p)
	}
	word := "table"
	if len(bad) > 1 {
		word = "tables"
	}
	msg := fmt.Sprintf("unknown %s %s", word, strings.Join(parts, ", "))
	if opts.Program != "" {
		msg += fmt.Sprintf("; the %s's tables are %s", opts.Program, strings.Join(s.top, ", "))
	}
	return errors.New(msg)
}

// nearestKey is the known key in the same table as k within edit distance
// 2 of it, or "".
func (s schema) nearestKey(k toml.Key) string {
	parent := k[:len(k)-1].String()
	var cands []string
	for key := range s.keys {
		p, _ := cutLast(key)
		if p == parent {
			cands = append(cands, key)
		}
	}
	return nearest(strings.ToLower(k.String()), cands)
}

// cutLast splits a dotted key before its last part.
func cutLast(key string) (parent, name string) {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i], key[i+1:]
	}
	return "", key
}

// bareDurations rejects a duration written as a number (keepalive = 30):
// the decoder would read it as nanoseconds. The error names the key and
// shows the string to write instead ("30s").
func (s schema) bareDurations(text string, opts Options) error {
	var raw map[string]any
	md, err := toml.Decode(text, &raw)
	if err != nil {
		return nil // reported by the typed decode
	}
	for _, k := range md.Keys() {
		if !opts.reads(k) || !s.durations[strings.ToLower(k.String())] || md.Type(k...) == "String" {
			continue
		}
		v := lookup(raw, k)
		example := "30s"
		switch v.(type) {
		case int64, float64:
			example = fmt.Sprintf("%vs", v)
		}
		return fmt.Errorf("%s: a duration must be a string with a unit, like %s = %q (ns, us, ms, s, m, h), got %v",
			k, k[len(k)-1], example, v)
	}
	return nil
}

// lookup returns the value at key in a decoded TOML document.
func lookup(doc map[string]any, key toml.Key) any {
	var cur any = doc
	for _, part := range key {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// durationHint completes the decoder's message for an unparsable duration
// string.
func durationHint(msg string) string {
	if strings.HasPrefix(msg, "invalid duration") {
		return ` (write a number with a unit, like "30s", "500ms" or "2m")`
	}
	return ""
}
