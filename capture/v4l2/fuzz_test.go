package v4l2

import (
	"bytes"
	"errors"
	"image"
	"os"
	"testing"

	"github.com/faceverify/faceverify/capture"
)

func mjpegSeeds(f *testing.F) {
	good := encodeJPEG(f, testPicture(24, 16), 80)
	f.Add(good)
	f.Add(stripDHT(f, good))
	if b, err := os.ReadFile("testdata/uvc_nodht_80x60.mjpg"); err == nil {
		f.Add(b)
	}
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02})
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xFF, 0xD0, 0xFF, 0xDA, 0, 2})
}

// FuzzAppendMJPEG: never panics; when it inserts, exactly the standard
// segment goes in before the first SOS and the result has a DHT.
func FuzzAppendMJPEG(f *testing.F) {
	mjpegSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		out, inserted, err := AppendMJPEG(nil, frame)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !inserted {
			if !bytes.Equal(out, frame) {
				t.Fatal("frame with DHT changed")
			}
			return
		}
		if len(out) != len(frame)+len(stdDHT) || !bytes.Contains(out, stdDHT) {
			t.Fatal("inserted bytes are not the standard segment")
		}
		if _, hasDHT, err := scanHeader(out); err != nil || !hasDHT {
			t.Fatalf("result: hasDHT=%v err=%v", hasDHT, err)
		}
	})
}

// FuzzDecodeMJPEG: never panics, errors wrap ErrCorrupt, and a decoded
// frame has the expected size.
func FuzzDecodeMJPEG(f *testing.F) {
	mjpegSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, sz := range [][2]int{{24, 16}, {0, 0}} {
			img, _, err := DecodeMJPEG(frame, sz[0], sz[1], nil)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v does not wrap ErrCorrupt", err)
				}
				continue
			}
			b := img.Bounds()
			if sz[0] > 0 && (b.Dx() != sz[0] || b.Dy() != sz[1]) {
				t.Fatalf("decoded %v, want %dx%d", b, sz[0], sz[1])
			}
			if b.Dx()*b.Dy() > maxMJPEGPixels {
				t.Fatalf("decoded %v beyond the limit", b)
			}
		}
	})
}

// FuzzYUYV: arbitrary bytes and geometry never panic or write out of the
// destination.
func FuzzYUYV(f *testing.F) {
	f.Add([]byte{16, 128, 235, 128}, 2, 1, 4)
	f.Add(make([]byte, 64), 4, 4, 10)
	f.Fuzz(func(t *testing.T, src []byte, w, h, stride int) {
		if w <= 0 || h <= 0 || w > 64 || h > 64 {
			return
		}
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		err := YUYVToRGBA(dst, src, w, h, stride, RangeLimited)
		if err == nil {
			for i := 3; i < len(dst.Pix); i += 4 {
				if dst.Pix[i] != 255 {
					t.Fatal("alpha not opaque")
				}
			}
		}
	})
}

// FuzzLazyMJPEG: the camera's hand-over never panics; a frame it accepts
// has the header's size, and decoding it later either fails with
// ErrCorrupt or gives an image of exactly that size.
func FuzzLazyMJPEG(f *testing.F) {
	mjpegSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		fixed, _, err := AppendMJPEG(nil, frame)
		if err != nil {
			return
		}
		img, err := lazyMJPEG(fixed, 0, 0)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		want := img.Bounds()
		px, err := capture.Pixels(img)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if px.Bounds() != want {
			t.Fatalf("decoded %v, header said %v", px.Bounds(), want)
		}
	})
}
