package inference_test

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"testing"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/inferencetest"
)

var scanLimits = inference.Limits{MaxPixels: 1 << 22, MaxBytes: inference.DefaultMaxBytes, MaxDecodedBytes: inference.DefaultMaxDecodedBytes}

// A progressive JPEG of more than MaxJPEGScans scans is refused from its
// markers (ErrTooLarge) by EstimateDecode, DecodeWith and DecodePooled;
// one of MaxJPEGScans scans decodes.
func TestJPEGScanLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		scans   int
		refused bool
	}{
		{"at the limit", inference.MaxJPEGScans, false},
		{"one over", inference.MaxJPEGScans + 1, true},
		{"bomb", 20 * inference.MaxJPEGScans, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := inferencetest.JPEGScanBomb(64, 48, tc.scans)
			_, err := inference.EstimateDecode(data)
			if got := errors.Is(err, inference.ErrTooLarge); got != tc.refused {
				t.Fatalf("EstimateDecode: %v, want refused %v", err, tc.refused)
			}
			img, err := inference.DecodeWith(bytes.NewReader(data), scanLimits)
			_, release, perr := inference.DecodePooled(bytes.NewReader(data), scanLimits)
			release()
			if tc.refused {
				if !errors.Is(err, inference.ErrTooLarge) || !errors.Is(perr, inference.ErrTooLarge) {
					t.Errorf("DecodeWith: %v, DecodePooled: %v, want ErrTooLarge", err, perr)
				}
				return
			}
			if err != nil || perr != nil {
				t.Fatalf("DecodeWith: %v, DecodePooled: %v", err, perr)
			}
			if c := img.(*image.RGBA).RGBAAt(10, 10); c.R != 128 || c.G != 128 || c.B != 128 {
				t.Errorf("pixel %v, want mid-grey 128", c)
			}
		})
	}
}

// Scan markers that no decoder reads as scans are not counted: bytes
// 0xFF 0xDA inside a comment segment before the scan and after the end of
// the image.
func TestJPEGScanLimitCountsOnlyScans(t *testing.T) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 16, 16)), nil); err != nil {
		t.Fatal(err)
	}
	plain := buf.Bytes()
	fake := bytes.Repeat([]byte{0xFF, 0xDA, 0x00, 0x08}, 2*inference.MaxJPEGScans)
	com := append([]byte{0xFF, 0xD8, 0xFF, 0xFE, byte((len(fake) + 2) >> 8), byte(len(fake) + 2)}, fake...)
	for name, data := range map[string][]byte{
		"in a comment":       append(com, plain[2:]...),
		"after end of image": append(append([]byte{}, plain...), fake...),
	} {
		if _, err := inference.EstimateDecode(data); err != nil {
			t.Errorf("%s: %v, want accepted", name, err)
		}
	}
}
