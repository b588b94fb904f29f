package testenv

import (
	"strings"
	"testing"
)

// recorder records how Missing ended a test without ending this one.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, format
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, format
}

func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		ci         string
		skip, fail bool
		prefix     string
	}{
		{"", true, false, "chromium not found"},
		{"true", false, true, "CI: chromium not found"},
		{"1", false, true, "CI: chromium not found"},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			Missing(r, "chromium not found")
			if r.skipped != tc.skip || r.failed != tc.fail || !strings.HasPrefix(r.msg, tc.prefix) {
				t.Errorf("CI=%q: skipped=%v failed=%v msg=%q, want skipped=%v failed=%v msg starting %q",
					tc.ci, r.skipped, r.failed, r.msg, tc.skip, tc.fail, tc.prefix)
			}
		})
	}
}
