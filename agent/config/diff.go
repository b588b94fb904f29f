package agent

import (
	"reflect"
	"sort"
	"strings"
)

// ConfigDiff returns the dotted TOML keys whose values differ between a
// and b (e.g. "session.timeout"), sorted. Fields without a TOML name
// (secrets such as mqtt.password, tagged "-") are never compared or
// named; embedded structs contribute their keys to the parent table;
// slices and maps compare as a whole.
func ConfigDiff(a, b Config) []string {
	var out []string
	diffValue(reflect.ValueOf(a), reflect.ValueOf(b), "", &out)
	sort.Strings(out)
	return out
}

func diffValue(a, b reflect.Value, prefix string, out *[]string) {
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := strings.Split(f.Tag.Get("toml"), ",")[0]
		if tag == "-" {
			continue
		}
		av, bv := a.Field(i), b.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			diffValue(av, bv, prefix, out)
			continue
		}
		name := tag
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() != "time" {
			diffValue(av, bv, key, out)
			continue
		}
		if !reflect.DeepEqual(av.Interface(), bv.Interface()) {
			*out = append(*out, key)
		}
	}
}
