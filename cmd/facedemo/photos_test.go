package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoPhotos checks the embedded photo set: it holds exactly the files
// the scenarios use (plus its notice, licence and checksums), each file is
// unaltered (SHA256SUMS, copied from the labelled set), NOTICE.md names
// each one, and the set stays under 1 MB.
func TestDemoPhotos(t *testing.T) {
	want := map[string]bool{}
	for _, f := range photoFiles() {
		want[f] = true
	}
	sums, err := demoPhotos.ReadFile("photos/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(sums)))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		listed[name] = sum
	}
	notice, err := demoPhotos.ReadFile("photos/NOTICE.md")
	if err != nil {
		t.Fatal(err)
	}
	var total int
	err = fs.WalkDir(demoPhotos, "photos", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, "photos/")
		switch rel {
		case "NOTICE.md", "SHA256SUMS", "LICENSE.Apache-2.0":
			return nil
		}
		if !want[rel] {
			t.Errorf("photos/%s is embedded but no scenario uses it", rel)
		}
		delete(want, rel)
		b, err := demoPhotos.ReadFile(p)
		if err != nil {
			return err
		}
		total += len(b)
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != listed[rel] {
			t.Errorf("photos/%s: sha256 %s, SHA256SUMS says %q", rel, got, listed[rel])
		}
		if !strings.Contains(string(notice), "`"+rel+"`") {
			t.Errorf("photos/NOTICE.md does not name %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for f := range want {
		t.Errorf("scenario photo %s is not embedded", f)
	}
	if total >= 1<<20 {
		t.Errorf("demo photos total %d bytes, want < 1 MiB", total)
	}
}

// TestCheckPhotos: a -photos folder lacking a scenario's file is refused
// with an error naming the missing file; a complete one is accepted.
func TestCheckPhotos(t *testing.T) {
	dir := t.TempDir()
	files := photoFiles()
	for _, f := range files[:len(files)-1] {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	last := files[len(files)-1]
	err := checkPhotos(dir)
	if err == nil || !strings.Contains(err.Error(), "lacks "+last+" ") {
		t.Fatalf("checkPhotos without %s = %v, want an error naming it", last, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(last)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, last), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkPhotos(dir); err != nil {
		t.Fatalf("checkPhotos on a complete folder: %v", err)
	}
}
