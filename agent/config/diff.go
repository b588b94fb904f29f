package config

import (
	"sort"

	"github.com/faceverify/faceverify/internal/conf"
)

// ConfigDiff returns the dotted TOML keys whose values differ between a
// and b (e.g. "session.timeout"), sorted. Fields without a TOML name
// (secrets such as mqtt.password, tagged "-") are never compared or
// named; embedded structs contribute their keys to the parent table;
// slices and maps compare as a whole.
func ConfigDiff(a, b Config) []string {
	out := conf.Diff(a, b)
	sort.Strings(out)
	return out
}
