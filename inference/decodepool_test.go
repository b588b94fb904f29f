package inference

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"testing"
)

func pngBytes(t testing.TB, img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// DecodePooled returns DecodeWith's pixels bit for bit, whatever the
// format, orientation or pool state, and its release zeroes the buffer.
func TestDecodePooledMatchesDecodeWith(t *testing.T) {
	big := quadrants(300, 260) // above the pooling threshold (64 KiB of RGBA)
	grey := image.NewGray(image.Rect(0, 0, 300, 200))
	for i := range grey.Pix {
		grey.Pix[i] = uint8(i * 7)
	}
	opaquePNG := quadrants(200, 150) // decodes to an opaque *image.RGBA: returned as is
	l := Limits{MaxPixels: 1 << 20, MaxBytes: 1 << 20, MaxDecodedBytes: DefaultMaxDecodedBytes}
	for _, c := range []struct {
		name   string
		data   []byte
		pooled bool // the result's pixels come from the pool
	}{
		{"jpeg", jpegWithOrientation(t, big, 1, binary.BigEndian), true},
		{"jpeg rotated", jpegWithOrientation(t, stored(big, 6), 6, binary.LittleEndian), false},
		{"jpeg small", jpegWithOrientation(t, quadrants(40, 30), 1, binary.BigEndian), false},
		{"png grey", pngBytes(t, grey), true},
		{"png opaque rgba", pngBytes(t, opaquePNG), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			want, err := DecodeWith(bytes.NewReader(c.data), l)
			if err != nil {
				t.Fatal(err)
			}
			// Twice: the second decode reuses the first one's buffer.
			for round := 0; round < 2; round++ {
				img, release, err := DecodePooled(bytes.NewReader(c.data), l)
				if err != nil {
					t.Fatal(err)
				}
				got := img.(*image.RGBA)
				w := want.(*image.RGBA)
				if got.Rect != w.Rect || !bytes.Equal(got.Pix, w.Pix) {
					t.Fatalf("round %d: pixels differ from DecodeWith (%v vs %v)", round, got.Rect, w.Rect)
				}
				pix := got.Pix
				release()
				release() // a second call does nothing
				zero := true
				for _, v := range pix {
					zero = zero && v == 0
				}
				if zero != c.pooled {
					t.Fatalf("round %d: pixels zeroed on release = %v, want %v", round, zero, c.pooled)
				}
			}
		})
	}
}

func TestDecodePooledErrors(t *testing.T) {
	var good bytes.Buffer
	if err := jpeg.Encode(&good, quadrants(64, 64), nil); err != nil {
		t.Fatal(err)
	}
	l := Limits{MaxPixels: 1 << 20, MaxBytes: 1 << 20, MaxDecodedBytes: DefaultMaxDecodedBytes}
	for _, c := range []struct {
		name string
		data []byte
		l    Limits
		want error
	}{
		{"text", []byte("hello, not an image"), l, ErrDecode},
		{"truncated", good.Bytes()[:good.Len()/2], l, ErrDecode},
		{"too many bytes", good.Bytes(), Limits{MaxPixels: 1 << 20, MaxBytes: int64(good.Len() - 1)}, ErrTooLarge},
		{"too many pixels", good.Bytes(), Limits{MaxPixels: 64*64 - 1, MaxBytes: 1 << 20}, ErrTooLarge},
		{"decode cost", good.Bytes(), Limits{MaxPixels: 1 << 20, MaxBytes: 1 << 20, MaxDecodedBytes: 1}, ErrTooLarge},
	} {
		img, release, err := DecodePooled(bytes.NewReader(c.data), c.l)
		if !errors.Is(err, c.want) || img != nil {
			t.Errorf("%s: %v, %v; want nil, %v", c.name, img, err, c.want)
		}
		release() // a no-op, and safe
	}
}

func TestPixClass(t *testing.T) {
	for _, n := range []int{1, 64 << 10, 64<<10 + 1, 1 << 20, 4 * 910 * 1137, 4 * 640 * 480, 3<<20 + 5} {
		c := pixClass(n)
		if c < n || (n > 64<<10 && c-n > n/8) {
			t.Errorf("pixClass(%d) = %d: below n or wasting more than 1/8", n, c)
		}
	}
}

// BenchmarkDecodeReference decodes the demo's partner reference (910×1137
// JPEG) as the gateway did (DecodeWith: a fresh RGBA every time) and does
// (DecodePooled).
func BenchmarkDecodeReference(b *testing.B) {
	data, err := os.ReadFile("../cmd/facedemo/photos/identity/person_a_01.jpg")
	if err != nil {
		b.Skip(err)
	}
	l := Limits{MaxPixels: 40 << 20, MaxBytes: DefaultMaxBytes, MaxDecodedBytes: DefaultMaxDecodedBytes}
	b.Run("DecodeWith", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeWith(bytes.NewReader(data), l); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodePooled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, release, err := DecodePooled(bytes.NewReader(data), l)
			if err != nil {
				b.Fatal(err)
			}
			release()
		}
	})
}
