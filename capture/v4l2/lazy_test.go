package v4l2

import (
	"bytes"
	"context"
	"image"
	"testing"
	"time"

	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/internal/testenv"
)

// TestNextMJPEGDecodesLazily: an MJPEG frame is handed over undecoded
// (header checked, size known), decodes on first use to exactly what
// DecodeMJPEG gives, and a frame padded with zeros after its end marker
// is still lazy; a truncated one is decoded at once and skipped.
func TestNextMJPEGDecodesLazily(t *testing.T) {
	e := newEnv(t, Options{Width: 64, Height: 48})
	e.dev.adv = []Advertised{{FourCC: MJPG, Sizes: []SizeRange{Discrete(64, 48)}}}
	ctx := context.Background()
	if err := e.src.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.src.Close()
	good := stripDHT(t, encodeJPEG(t, testPicture(64, 48), 90))
	padded := append(bytes.Clone(good), make([]byte, 100)...)
	want, _, err := DecodeMJPEG(good, 64, 48, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, frame := range [][]byte{good, padded} {
		e.dev.script(good[:len(good)-40], frame) // the truncated one is skipped
		f, err := e.src.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		l, ok := f.Image.(*capture.LazyImage)
		if !ok {
			t.Fatalf("frame image is %T, want *capture.LazyImage", f.Image)
		}
		if l.Bounds() != image.Rect(0, 0, 64, 48) || l.Decoded() {
			t.Fatalf("bounds %v decoded %v; want 64×48 known from the header, not decoded", l.Bounds(), l.Decoded())
		}
		px, err := capture.Pixels(f.Image)
		if err != nil {
			t.Fatal(err)
		}
		rgba, ok := px.(*image.RGBA)
		if !ok || !bytes.Equal(rgba.Pix, want.Pix) {
			t.Fatalf("decoded %T differs from DecodeMJPEG", px)
		}
	}
	if st := e.src.Stats(); st.Corrupt != 2 || st.Frames != 2 {
		t.Fatalf("Stats = %+v, want 2 corrupt, 2 frames", st)
	}
}

func TestEndsWithEOI(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want bool
	}{
		{[]byte{0xFF, 0xD8, 0xFF, 0xD9}, true},
		{[]byte{0xFF, 0xD8, 0xFF, 0xD9, 0, 0, 0}, true},
		{[]byte{0xFF, 0xD8, 0x12, 0x34}, false},
		{[]byte{0xD9}, false},
		{nil, false},
		{[]byte{0xFF, 0xD9, 0x01}, false},
	} {
		if got := endsWithEOI(c.b); got != c.want {
			t.Errorf("endsWithEOI(% x) = %v, want %v", c.b, got, c.want)
		}
	}
}

// BenchmarkMJPEGHandover is the camera goroutine's cost per MJPEG frame:
// "eager" decodes every frame as the source did, "lazy" checks the header
// and end marker and leaves the decoding to the frames analysed or shown.
// The frame is a 1280×720 picture at quality 90 without DHT (as UVC
// cameras send it); both include the DHT insertion copy.
func BenchmarkMJPEGHandover(b *testing.B) {
	frame := stripDHT(b, encodeJPEG(b, testPicture(1280, 720), 90))
	b.Run("eager", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		defer testenv.CPUMeter(b, time.Microsecond)()
		for b.Loop() {
			fixed, _, err := AppendMJPEG(nil, frame)
			if err == nil {
				_, err = decodeFixed(fixed, 1280, 720, nil)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lazy", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		defer testenv.CPUMeter(b, time.Microsecond)()
		for b.Loop() {
			fixed, _, err := AppendMJPEG(nil, frame)
			if err == nil {
				_, err = lazyMJPEG(fixed, 1280, 720)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
