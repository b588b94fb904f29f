package inference

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"testing"
)

// fillDecoder is a JPEGDecoder that paints every pixel one colour, or
// refuses every file; it counts its calls.
type fillDecoder struct {
	colour [4]uint8
	refuse bool
	calls  int
}

func (d *fillDecoder) Name() string { return "fill" }

func (d *fillDecoder) DecodeJPEG(data []byte, dst *image.RGBA) error {
	d.calls++
	for i := 0; i < len(dst.Pix); i += 4 {
		copy(dst.Pix[i:i+4], d.colour[:])
	}
	if d.refuse {
		return errors.New("refused")
	}
	return nil
}

func installJPEG(t *testing.T, d JPEGDecoder) {
	t.Helper()
	SetJPEGDecoder(d)
	t.Cleanup(func() { SetJPEGDecoder(nil) })
}

// An installed decoder gets the JPEG files (not the PNG ones), its pixels
// are oriented as image/jpeg's would be, and a file it refuses is decoded
// by image/jpeg as if it were not installed.
func TestJPEGDecoderInstalled(t *testing.T) {
	l := Limits{MaxPixels: 1 << 20, MaxBytes: 1 << 20, MaxDecodedBytes: DefaultMaxDecodedBytes}
	big := quadrants(300, 260) // pooled size
	rotated := jpegWithOrientation(t, stored(big, 6), 6, binary.LittleEndian)
	plain := jpegWithOrientation(t, big, 1, binary.BigEndian)
	wantRotated, err := DecodeWith(bytes.NewReader(rotated), l)
	if err != nil {
		t.Fatal(err)
	}
	if JPEGDecoderName() != "image/jpeg" {
		t.Fatalf("no decoder installed: name %q", JPEGDecoderName())
	}

	d := &fillDecoder{colour: [4]uint8{10, 20, 30, 255}}
	installJPEG(t, d)
	if JPEGDecoderName() != "fill" {
		t.Errorf("name %q, want fill", JPEGDecoderName())
	}
	for _, pooled := range []bool{false, true} {
		for _, data := range [][]byte{plain, rotated} {
			var img image.Image
			release := func() {}
			if pooled {
				img, release, err = DecodePooled(bytes.NewReader(data), l)
			} else {
				img, err = DecodeWith(bytes.NewReader(data), l)
			}
			if err != nil {
				t.Fatal(err)
			}
			rgba := img.(*image.RGBA)
			if rgba.Rect != big.Rect { // 6 rotates the stored 260×300 back
				t.Errorf("pooled %v: bounds %v, want %v", pooled, rgba.Rect, big.Rect)
			}
			if got := rgba.Pix[:4]; !bytes.Equal(got, d.colour[:]) {
				t.Errorf("pooled %v: pixel %v, want the decoder's %v", pooled, got, d.colour)
			}
			release()
		}
	}
	if d.calls != 4 {
		t.Errorf("%d decoder calls, want 4", d.calls)
	}
	if _, err := DecodeWith(bytes.NewReader(pngBytes(t, big)), l); err != nil || d.calls != 4 {
		t.Errorf("PNG: %v, %d calls; want nil, still 4", err, d.calls)
	}

	d.refuse = true
	for _, pooled := range []bool{false, true} {
		var img image.Image
		release := func() {}
		if pooled {
			img, release, err = DecodePooled(bytes.NewReader(rotated), l)
		} else {
			img, err = DecodeWith(bytes.NewReader(rotated), l)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, want := img.(*image.RGBA), wantRotated.(*image.RGBA)
		if got.Rect != want.Rect || !bytes.Equal(got.Pix, want.Pix) {
			t.Errorf("pooled %v: a refused file is not image/jpeg's decode", pooled)
		}
		release()
	}
	// A refused truncated file gets image/jpeg's error.
	if _, err := DecodeWith(bytes.NewReader(plain[:len(plain)/2]), l); !errors.Is(err, ErrDecode) {
		t.Errorf("truncated: %v, want ErrDecode", err)
	}

	SetJPEGDecoder(nil)
	if JPEGDecoderName() != "image/jpeg" {
		t.Errorf("uninstalled: name %q", JPEGDecoderName())
	}
}
