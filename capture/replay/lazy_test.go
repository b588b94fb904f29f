package replay

import (
	"context"
	"image"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/internal/clock"
)

// TestFramesDecodeOnFirstUse: frames come undecoded, each file decodes
// once per Open however often it is replayed, and a file whose header
// reads but whose pixels do not fails its frame's decoding and is skipped
// from then on.
func TestFramesDecodeOnFirstUse(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "a.png"), 1)
	writePNG(t, filepath.Join(dir, "b.png"), 2)
	whole, err := os.ReadFile(filepath.Join(dir, "b.png"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "c.png"), whole[:len(whole)-20], 0o644) // header fine, data cut
	decodes := 0
	s, err := New(Options{Path: dir, FPS: 10, Loop: true, Clock: clock.Real{},
		Decode: func(r io.Reader) (image.Image, error) { decodes++; return decodePNG(r) }})
	if err != nil {
		t.Fatal(err)
	}
	s.period = 0
	ctx := context.Background()
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if decodes != 1 {
		t.Fatalf("Open decoded %d files, want the first only", decodes)
	}
	next := func() capture.Frame {
		t.Helper()
		f, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a, b := next(), next()
	if l := b.Image.(*capture.LazyImage); l.Decoded() || decodes != 1 {
		t.Fatalf("b decoded before use (%d decodes)", decodes)
	}
	if red(a) != 1 || red(b) != 2 || decodes != 2 {
		t.Fatalf("red %d, %d after %d decodes; want 1, 2 after 2", red(a), red(b), decodes)
	}
	c := next()
	if _, err := capture.Pixels(c.Image); err == nil {
		t.Fatal("the cut file decoded")
	}
	for range 2 { // the loop: a, b again (already decoded), c skipped
		if f := next(); red(f) != 1 {
			t.Fatalf("after the cut file got red %d, want 1", red(f))
		}
		if f := next(); red(f) != 2 {
			t.Fatalf("got red %d, want 2", red(f))
		}
	}
	if st := s.Stats(); decodes != 3 || st.Skipped != 2 {
		t.Fatalf("%d decodes, stats %+v; want 3 decodes (one per file), 2 skips (found bad, then skipped once)", decodes, st)
	}
}

// TestFirstFrameKeptAcrossOpens: the file Open decodes stays decoded
// across Close, so the next Open of the same bytes decodes nothing and
// hands over the same image; changed bytes under the same name are
// decoded afresh.
func TestFirstFrameKeptAcrossOpens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "frame.png")
	writePNG(t, path, 1)
	decodes := 0
	s, err := New(Options{Path: dir, FPS: 10, Clock: clock.Real{},
		Decode: func(r io.Reader) (image.Image, error) { decodes++; return decodePNG(r) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	session := func() capture.Frame {
		t.Helper()
		if err := s.Open(ctx); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		f, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	tests := []struct {
		name        string
		change      func()
		wantDecodes int
		wantRed     uint8
		sameImage   bool
	}{
		{"first open decodes", func() {}, 1, 1, false},
		{"same bytes: kept", func() {}, 1, 1, true},
		{"same bytes again: kept", func() {}, 1, 1, true},
		{"changed bytes: decoded afresh", func() { writePNG(t, path, 2) }, 2, 2, false},
		{"then kept again", func() {}, 2, 2, true},
	}
	var prev *capture.LazyImage
	for _, tt := range tests {
		tt.change()
		f := session()
		img := f.Image.(*capture.LazyImage)
		if decodes != tt.wantDecodes || red(f) != tt.wantRed || (img == prev) != tt.sameImage {
			t.Errorf("%s: %d decodes, red %d, same image %v; want %d, %d, %v", tt.name, decodes, red(f), img == prev, tt.wantDecodes, tt.wantRed, tt.sameImage)
		}
		prev = img
	}
}
