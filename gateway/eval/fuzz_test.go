package eval

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadSet feeds arbitrary labels.csv and pairs.csv contents to
// LoadSet: it must return a set or an error, never panic, and every pair it
// generates must name two labelled identity samples.
func FuzzLoadSet(f *testing.F) {
	f.Add([]byte(testLabels), []byte("file1,file2,same\nidentity/a1.png,identity/b1.png,0\n"), false)
	f.Add([]byte("file,person,live\n"), []byte(""), true)
	f.Add([]byte("file,person,live,faces\nx.jpg,a;b,spoof,>=2\n\"unterminated"), []byte("file1,file2\n"), false)
	f.Fuzz(func(t *testing.T, labels, pairs []byte, all bool) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "labels.csv"), labels, 0o644); err != nil {
			t.Fatal(err)
		}
		if len(pairs) > 0 {
			if err := os.WriteFile(filepath.Join(dir, "pairs.csv"), pairs, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		set, err := LoadSet(dir, all)
		if err != nil {
			return
		}
		if set.PairsFrom != "all pairs" {
			return
		}
		ids := map[string]bool{}
		for _, s := range set.Samples {
			if s.Live == LabelNA && s.Person != "" {
				ids[s.File] = true
			}
		}
		for _, p := range set.Pairs {
			if !ids[p.Probe] || !ids[p.Reference] {
				t.Fatalf("generated pair %+v names a file that is not an identity sample", p)
			}
		}
	})
}
