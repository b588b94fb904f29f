package host

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCPUTemperature(t *testing.T) {
	for _, tc := range []struct {
		name  string
		zones map[string][2]string // dir → type, temp
		want  float64
		ok    bool
	}{
		{"cpu zone preferred", map[string][2]string{"thermal_zone0": {"acpitz", "30000"}, "thermal_zone1": {"x86_pkg_temp", "61250"}}, 61.25, true},
		{"first readable zone", map[string][2]string{"thermal_zone0": {"acpitz", "30000"}}, 30, true},
		{"garbage skipped", map[string][2]string{"thermal_zone0": {"cpu-thermal", "hot"}, "thermal_zone1": {"gpu", "40000"}}, 40, true},
		{"absurd value", map[string][2]string{"thermal_zone0": {"cpu-thermal", "999999"}}, 0, false},
		{"no thermal zones", nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for dir, v := range tc.zones {
				z := filepath.Join(root, "class", "thermal", dir)
				os.MkdirAll(z, 0o755)
				os.WriteFile(filepath.Join(z, "type"), []byte(v[0]+"\n"), 0o644)
				os.WriteFile(filepath.Join(z, "temp"), []byte(v[1]+"\n"), 0o644)
			}
			got, ok := CPUTemperature(root)
			if ok != tc.ok || got != tc.want {
				t.Errorf("CPUTemperature = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
