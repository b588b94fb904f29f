package host

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CPUHotC is the CPU temperature, °C, at which self-test fails (the
// Raspberry Pi firmware starts throttling at 85 °C).
const CPUHotC = 85.0

// CPUTemperature reads the CPU temperature in °C from
// <sysfsRoot>/class/thermal/thermal_zone*/temp (millidegrees): the zone
// whose type names the CPU or SoC (cpu-thermal, x86_pkg_temp, soc_thermal),
// else the first readable zone. ok is false when none is readable.
func CPUTemperature(sysfsRoot string) (float64, bool) {
	zones, _ := filepath.Glob(filepath.Join(sysfsRoot, "class", "thermal", "thermal_zone*"))
	best, found := 0.0, false
	for _, z := range zones {
		b, err := os.ReadFile(filepath.Join(z, "temp"))
		if err != nil {
			continue
		}
		var milli int64
		if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &milli); err != nil || milli < -50000 || milli > 200000 {
			continue
		}
		c := float64(milli) / 1000
		typ, _ := os.ReadFile(filepath.Join(z, "type"))
		t := strings.ToLower(strings.TrimSpace(string(typ)))
		if strings.Contains(t, "cpu") || strings.Contains(t, "x86_pkg") || strings.Contains(t, "soc") {
			return c, true
		}
		if !found {
			best, found = c, true
		}
	}
	return best, found
}
