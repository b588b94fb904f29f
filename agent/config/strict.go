package agent

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
)

// unknownTables rejects top-level tables (and dotted keys whose first part
// is) not in agentTables, naming each and, for a near miss, the table
// meant. A top-level key that is not a table is left to the unknown-key
// check.
func unknownTables(md toml.MetaData) error {
	var bad []string
	for _, k := range md.Keys() {
		if len(k) == 0 || agentTables[k[0]] || slices.Contains(bad, k[0]) {
			continue
		}
		if len(k) == 1 && md.Type(k...) != "Hash" && md.Type(k...) != "ArrayHash" {
			continue // a plain top-level key: "unknown key"
		}
		bad = append(bad, k[0])
	}
	if len(bad) == 0 {
		return nil
	}
	var parts []string
	for _, b := range bad {
		p := "[" + b + "]"
		if near := nearestTable(b); near != "" {
			p += " (did you mean [" + near + "]?)"
		}
		parts = append(parts, p)
	}
	known := make([]string, 0, len(agentTables))
	for t := range agentTables {
		known = append(known, t)
	}
	slices.Sort(known)
	word := "table"
	if len(bad) > 1 {
		word = "tables"
	}
	return fmt.Errorf("unknown %s %s; the agent's tables are %s", word, strings.Join(parts, ", "), strings.Join(known, ", "))
}

// nearestTable is the agent table within edit distance 2 of name
// (case-insensitive), or "".
func nearestTable(name string) string {
	best, bestD := "", 3
	for t := range agentTables {
		if d := editDistance(strings.ToLower(name), t); d < bestD || d == bestD && t < best {
			best, bestD = t, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var durationType = reflect.TypeFor[time.Duration]()

// durationKeys are the dotted, lowercased TOML keys of Config's
// time.Duration fields (embedded structs without a tag are flattened, as
// the decoder does).
var durationKeys = sync.OnceValue(func() map[string]bool {
	out := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "-" {
				continue
			}
			ft := f.Type
			if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
				walk(ft, prefix)
				continue
			}
			if name == "" {
				name = f.Name
			}
			key := prefix + strings.ToLower(name)
			switch {
			case ft == durationType:
				out[key] = true
			case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]():
				walk(ft, key+".")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
})

// bareDurations rejects a duration written as a number (keepalive = 30):
// the TOML decoder would read it as nanoseconds. The error names the key
// and shows the string to write instead ("30s"). text has already parsed.
func bareDurations(text string) error {
	var raw map[string]any
	md, err := toml.Decode(text, &raw)
	if err != nil {
		return nil // reported by the decode into Config
	}
	for _, k := range md.Keys() {
		if !durationKeys()[strings.ToLower(k.String())] || md.Type(k...) == "String" {
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
