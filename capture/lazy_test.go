package capture

import (
	"errors"
	"image"
	"image/color"
	"sync"
	"sync/atomic"
	"testing"
)

func TestLazyImage(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 4, 3))
	src.SetRGBA(1, 2, color.RGBA{10, 20, 30, 255})
	boom := errors.New("boom")
	cases := []struct {
		name       string
		bounds     image.Rectangle
		img        image.Image
		err        error
		wantBounds image.Rectangle
		boundsOnly bool // Bounds answers without decoding
	}{
		{"bounds from the header", src.Rect, src, nil, src.Rect, true},
		{"bounds by decoding", image.Rectangle{}, src, nil, src.Rect, false},
		{"undecodable, bounds known", src.Rect, nil, boom, src.Rect, true},
		{"undecodable, bounds unknown", image.Rectangle{}, nil, boom, image.Rectangle{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var calls atomic.Int32
			l := NewLazyImage(c.bounds, func() (image.Image, error) {
				calls.Add(1)
				return c.img, c.err
			})
			if l.Bounds() != c.wantBounds {
				t.Fatalf("Bounds = %v, want %v", l.Bounds(), c.wantBounds)
			}
			if c.boundsOnly == l.Decoded() || c.boundsOnly == (calls.Load() == 1) {
				t.Fatalf("after Bounds: decoded %v (%d calls), want decoded %v", l.Decoded(), calls.Load(), !c.boundsOnly)
			}
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					px, err := Pixels(l)
					if !errors.Is(err, c.err) || (c.err == nil && px != c.img) {
						t.Errorf("Pixels = %v, %v", px, err)
					}
				}()
			}
			wg.Wait()
			got := l.At(1, 2)
			want := color.Color(color.RGBA{})
			if c.err == nil {
				want = color.RGBA{10, 20, 30, 255}
			}
			if got != want {
				t.Fatalf("At = %v, want %v", got, want)
			}
			if n := calls.Load(); n != 1 || !l.Decoded() {
				t.Fatalf("decoder ran %d times (decoded %v), want once", n, l.Decoded())
			}
		})
	}
	if px, err := Pixels(src); px != src || err != nil {
		t.Fatalf("Pixels of a plain image = %v, %v; want it unchanged", px, err)
	}
}

func TestLazyImageNilDecode(t *testing.T) {
	l := NewLazyImage(image.Rect(0, 0, 1, 1), func() (image.Image, error) { return nil, nil })
	if _, err := l.Decode(); err == nil {
		t.Fatal("a decoder returning no image must be an error")
	}
}
