package conf

import (
	"strings"
)

// nearest is the candidate within edit distance 2 of name (compared
// lower-cased) and nearer than name's length, the first in sort order on
// a tie, or "".
func nearest(name string, cands []string) string {
	best, bestD := "", min(3, len(name))
	for _, c := range cands {
		if d := editDistance(name, strings.ToLower(c)); d < bestD || d == bestD && c < best {
			best, bestD = c, d
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

// keyLines maps the dotted keys defined in a TOML document (as
// toml.Key.String spells them, without array indexes) to the 1-based line
// of their first definition. The decoder keeps key positions to itself,
// so this reads the lines: table headers ([a.b], [[a]]) set the current
// table, and "key = " lines (bare, quoted or dotted keys) define keys in
// it. Lines inside multi-line strings are skipped; keys inside inline
// tables are not listed.
func keyLines(text string) map[string]int {
	out := map[string]int{}
	var table []string
	inMulti := ""
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		if inMulti != "" {
			if strings.Count(line, inMulti)%2 == 1 {
				inMulti = ""
			}
			continue
		}
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			continue
		}
		if t[0] == '[' {
			h := strings.TrimPrefix(strings.TrimPrefix(t, "["), "[")
			end := strings.IndexByte(h, ']')
			if end < 0 {
				continue
			}
			table = splitKey(h[:end])
			k := strings.Join(table, ".")
			if _, ok := out[k]; !ok {
				out[k] = n
			}
			continue
		}
		eq := keyEnd(t)
		if eq < 0 {
			continue
		}
		parts := append(append([]string(nil), table...), splitKey(t[:eq])...)
		for j := len(table) + 1; j <= len(parts); j++ {
			k := strings.Join(parts[:j], ".")
			if _, ok := out[k]; !ok {
				out[k] = n
			}
		}
		for _, q := range []string{`"""`, `'''`} {
			if strings.Count(t[eq+1:], q)%2 == 1 {
				inMulti = q
			}
		}
	}
	return out
}

// keyEnd is the index of the '=' that ends the key of line, outside
// quotes, or -1.
func keyEnd(line string) int {
	quote := byte(0)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '=':
			return i
		}
	}
	return -1
}

// splitKey splits a TOML key ("a.\"b.c\".d") into its parts, unquoted.
func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		case c == ' ' || c == '\t':
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, strings.TrimSpace(cur.String()))
}
