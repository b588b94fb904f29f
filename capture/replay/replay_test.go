package replay

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/internal/clock"
)

func decodePNG(r io.Reader) (image.Image, error) { return png.Decode(r) }

// writePNG writes a 4×4 image whose red channel is v.
func writePNG(t *testing.T, path string, v uint8) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for i := range 16 {
		img.Set(i%4, i/4, color.RGBA{v, 0, 0, 255})
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func red(f capture.Frame) uint8 {
	r, _, _, _ := f.Image.At(0, 0).RGBA()
	return uint8(r >> 8)
}

func newSource(t *testing.T, path string, loop bool, clk clock.Clock) *Source {
	t.Helper()
	s, err := New(Options{Path: path, FPS: 10, Loop: loop, Decode: decodePNG, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOrderSkipAndEnd(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "b.png"), 2)
	writePNG(t, filepath.Join(dir, "a.png"), 1)
	writePNG(t, filepath.Join(dir, "d.PNG"), 4)
	os.WriteFile(filepath.Join(dir, "c.png"), []byte("not a png"), 0o644)   // bad: skipped
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o644) // not an image
	writePNG(t, filepath.Join(dir, ".hidden.png"), 9)                       // hidden: ignored

	s := newSource(t, dir, false, clock.Real{})
	s.period = 0 // no pacing in this test
	ctx := context.Background()
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	var got []uint8
	var seqs []uint64
	for {
		f, err := s.Next(ctx)
		if errors.Is(err, capture.ErrClosed) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got, seqs = append(got, red(f)), append(seqs, f.Seq)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 4 {
		t.Errorf("frames %v, want [1 2 4] in name order", got)
	}
	if seqs[0] != 1 || seqs[2] != 3 {
		t.Errorf("seqs %v", seqs)
	}
	if st := s.Stats(); st.Skipped != 1 || st.Frames != 3 {
		t.Errorf("stats %+v, want 1 skipped, 3 frames", st)
	}
	s.Close()
	s.Close() // twice is fine
	if _, err := s.Next(ctx); !errors.Is(err, capture.ErrClosed) {
		t.Errorf("Next after Close: %v", err)
	}
}

func TestPacingWithFakeClock(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "a.png"), 1)
	writePNG(t, filepath.Join(dir, "b.png"), 2)
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	s := newSource(t, dir, true, clk)
	ctx := context.Background()
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	f1, err := s.Next(ctx)
	if err != nil || red(f1) != 1 || !f1.At.Equal(clk.Now()) {
		t.Fatalf("first frame %v %v: want immediately", f1.At, err)
	}
	got := make(chan capture.Frame, 1)
	go func() { f, _ := s.Next(ctx); got <- f }()
	if !clk.BlockUntil(1, time.Minute) {
		t.Fatal("Next did not wait on the clock")
	}
	clk.Advance(50 * time.Millisecond)
	select {
	case <-got:
		t.Fatal("second frame before 100 ms at 10 fps")
	case <-time.After(50 * time.Millisecond):
	}
	clk.Advance(50 * time.Millisecond)
	select {
	case f := <-got:
		if red(f) != 2 || f.At.Sub(f1.At) != 100*time.Millisecond {
			t.Errorf("second frame red %d after %v, want 2 after 100ms", red(f), f.At.Sub(f1.At))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second frame not delivered after 100 ms")
	}
	// Loop: the third frame is the first image again.
	go func() { f, _ := s.Next(ctx); got <- f }()
	clk.BlockUntil(1, time.Minute)
	clk.Advance(100 * time.Millisecond)
	if f := <-got; red(f) != 1 || f.Seq != 3 {
		t.Errorf("looped frame red %d seq %d, want 1, 3", red(f), f.Seq)
	}
	// Cancelling ctx ends a waiting Next.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := s.Next(cctx); errc <- err }()
	clk.BlockUntil(1, time.Minute)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Next: %v", err)
	}
}

func TestNothingDecodableFailsOpen(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.jpg"), []byte("garbage"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.png"), []byte{0x89, 'P', 'N', 'G'}, 0o644)
	s := newSource(t, dir, true, clock.Real{})
	if err := s.Open(context.Background()); !errors.Is(err, ErrNoImages) {
		t.Errorf("Open = %v, want ErrNoImages", err)
	}
	empty := t.TempDir()
	if err := newSource(t, empty, true, clock.Real{}).Open(context.Background()); !errors.Is(err, ErrNoImages) {
		t.Errorf("empty dir: %v, want ErrNoImages", err)
	}
	if err := newSource(t, filepath.Join(dir, "missing"), true, clock.Real{}).Open(context.Background()); err == nil {
		t.Error("missing path opened")
	}
}

func TestDirectoryReReadAtOpen(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "a.png"), 1)
	s := newSource(t, dir, false, clock.Real{})
	ctx := context.Background()
	s.Open(ctx)
	if f, _ := s.Next(ctx); red(f) != 1 {
		t.Fatal("first session")
	}
	s.Close()
	os.Remove(filepath.Join(dir, "a.png"))
	writePNG(t, filepath.Join(dir, "z.png"), 7)
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.Next(ctx); red(f) != 7 {
		t.Errorf("after changing the directory got red %d, want 7", red(f))
	}
}

func TestSingleFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "one.png")
	writePNG(t, p, 5)
	s := newSource(t, p, false, clock.Real{})
	ctx := context.Background()
	s.Open(ctx)
	if f, err := s.Next(ctx); err != nil || red(f) != 5 {
		t.Fatalf("%v %v", f, err)
	}
	if _, err := s.Next(ctx); !errors.Is(err, capture.ErrClosed) {
		t.Errorf("after the only image: %v, want ErrClosed", err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"no path":   {FPS: 1, Decode: decodePNG},
		"zero fps":  {Path: ".", Decode: decodePNG},
		"no decode": {Path: ".", FPS: 1},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
