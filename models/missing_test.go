package models

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifyMissingNamesTheAbsolutePath(t *testing.T) {
	m, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	var dest string
	for _, p := range m.Packages {
		if len(p.Files) > 0 {
			dest = p.Files[0].Dest
			break
		}
	}
	if dest == "" {
		t.Fatal("manifest lists no files")
	}
	wd := t.TempDir()
	t.Chdir(wd)
	cases := []struct {
		name, dir, wantRel string
	}{
		{"relative directory", "models", `models directory "models" is relative to the working directory ` + wd},
		{"absolute directory", filepath.Join(wd, "models"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := m.Verify(tc.dir, dest)
			var me *MissingError
			if !errors.Is(err, ErrMissing) || !errors.As(err, &me) {
				t.Fatalf("Verify = %v, want a *MissingError matching ErrMissing", err)
			}
			msg := err.Error()
			if want := "Model file missing: " + filepath.Join(wd, "models", dest); !strings.HasPrefix(msg, want) {
				t.Errorf("message %q, want it to start with %q", msg, want)
			}
			if tc.wantRel != "" && !strings.Contains(msg, tc.wantRel) || tc.wantRel == "" && strings.Contains(msg, "relative") {
				t.Errorf("message %q; want relative-directory note %q", msg, tc.wantRel)
			}
			if n := strings.Count(msg, "make models"); n != 1 {
				t.Errorf("message %q gives the hint %d times", msg, n)
			}
		})
	}
}
