package inference

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// encodePNG encodes img with image/png.
func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withTRNS inserts a tRNS chunk after a PNG's IHDR (8-bit grey: value 0
// transparent; truecolour: black transparent).
func withTRNS(b []byte, data []byte) []byte {
	at := 8 + 8 + 13 + 4 // signature, IHDR length+type, data, CRC
	out := append([]byte{}, b[:at]...)
	out = append(out, pngChunk("tRNS", data)...)
	return append(out, b[at:]...)
}

// interlacedPNG16 is a w×h 16-bit RGBA Adam7-interlaced PNG (image/png
// does not write interlaced files).
func interlacedPNG16(w, h int) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9], ihdr[12] = 16, 6, 1
	passes := [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
	var raw bytes.Buffer
	for _, p := range passes {
		pw := (w - p[0] + p[2] - 1) / p[2]
		ph := (h - p[1] + p[3] - 1) / p[3]
		if pw <= 0 || ph <= 0 {
			continue
		}
		for range ph {
			raw.WriteByte(0)
			for x := range pw {
				raw.Write([]byte{byte(x), 0, 0x80, 0, 0x40, 0, 0xFF, 0xFF})
			}
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", z.Bytes())...)
	return append(out, pngChunk("IEND", nil)...)
}

func filled[T interface {
	image.Image
	Set(x, y int, c color.Color)
}](img T) T {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			img.Set(x, y, color.NRGBA{uint8(x), uint8(y), uint8(x + y), 200})
		}
	}
	return img
}

// allocated is the bytes allocated while f runs (runtime.MemStats.TotalAlloc;
// the test does not run in parallel with others).
func allocated(f func()) int64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return int64(b.TotalAlloc - a.TotalAlloc)
}

// TestEstimateDecodeBoundsAllocation decodes images of every layout the
// gateway may meet and checks that DecodeCost.Bytes is an upper bound of
// what DecodeWith really allocates (up to 256 KiB + 3 % of row, zlib and
// Huffman buffers that are not counted; the race detector adds some), and
// not a loose one (at most 1.5× + that).
func TestEstimateDecodeBoundsAllocation(t *testing.T) {
	const w, h = 640, 480
	rect := image.Rect(0, 0, w, h)
	rgb := filled(image.NewRGBA(rect))
	for i := 3; i < len(rgb.Pix); i += 4 {
		rgb.Pix[i] = 255
	}
	type tc struct {
		name string
		data []byte
		bpp  float64 // expected bytes a pixel, ±0.05
	}
	tests := []tc{
		{"png gray8", encodePNG(t, filled(image.NewGray(rect))), 1 + 4},
		{"png gray8 tRNS", withTRNS(encodePNG(t, filled(image.NewGray(rect))), []byte{0, 0}), 4 + 4},
		{"png gray16", encodePNG(t, filled(image.NewGray16(rect))), 2 + 4},
		{"png rgb8 opaque", encodePNG(t, rgb), 4},
		{"png rgb8 tRNS", withTRNS(encodePNG(t, rgb), []byte{0, 0, 0, 0, 0, 0}), 4 + 4},
		{"png rgba8", encodePNG(t, filled(image.NewNRGBA(rect))), 4 + 4},
		{"png rgba16", encodePNG(t, filled(image.NewNRGBA64(rect))), 8 + 4},
		{"png rgb16", encodePNG(t, filled(image.NewRGBA64(rect))), 8 + 4},
		{"png paletted", encodePNG(t, filled(image.NewPaletted(rect, color.Palette{color.Black, color.White, color.Gray{128}}))), 1 + 4},
		{"png rgba16 interlaced", interlacedPNG16(w, h), 2*8 + 4},
		{"jpeg gray", encodeJPEG(t, filled(image.NewGray(rect))), 1 + 4},
		{"jpeg 4:2:0", encodeJPEG(t, rgb), 1.5 + 4},
		{"jpeg 4:2:0 rotated", jpegWithOrientation(t, rgb, 6, binary.LittleEndian), 1.5 + 4 + 4},
	}
	prog := filepath.Join("..", "..", "shared", "testdata", "liveness", "spoof_print_02.jpg")
	if b, err := os.ReadFile(prog); err == nil {
		tests = append(tests, tc{"jpeg progressive (shared testdata)", b, 0})
	} else {
		t.Logf("progressive JPEG case skipped: ../shared/testdata not found (%v)", err)
	}
	for _, tt := range tests {
		c, err := EstimateDecode(tt.data)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.bpp != 0 && (c.BytesPerPixel() < tt.bpp-0.05 || c.BytesPerPixel() > tt.bpp+0.05) {
			t.Errorf("%s: %.2f B/px estimated, want %.2f", tt.name, c.BytesPerPixel(), tt.bpp)
		}
		slack := 256<<10 + c.Bytes/32
		runtime.GC()
		var derr error
		got := allocated(func() {
			_, derr = DecodeWith(bytes.NewReader(tt.data), Limits{MaxPixels: 1 << 26, MaxBytes: 1 << 26})
		})
		if derr != nil {
			t.Fatalf("%s: decode: %v", tt.name, derr)
		}
		// The encoded bytes are read into memory once: not pixel memory.
		got -= int64(len(tt.data))
		t.Logf("%s: %dx%d estimated %d bytes (%.2f B/px), allocated %d", tt.name, c.Width, c.Height, c.Bytes, c.BytesPerPixel(), got)
		if got > c.Bytes+slack {
			t.Errorf("%s: decode allocated %d bytes, more than the estimate %d", tt.name, got, c.Bytes)
		}
		if c.Bytes > got*3/2+slack {
			t.Errorf("%s: estimate %d bytes is loose: decode allocated %d", tt.name, c.Bytes, got)
		}
	}
}

// TestDecodeWithRefusesCostBeforeDecoding: the 6320×6320 16-bit RGBA PNG
// of the issue (under 40 Mpixels) needs 479 MB to decode; a 256 MiB cap
// refuses it with ErrTooLarge from its 29-byte header, long before IDAT.
func TestDecodeWithRefusesCostBeforeDecoding(t *testing.T) {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 6320)
	binary.BigEndian.PutUint32(ihdr[4:], 6320)
	ihdr[8], ihdr[9] = 16, 6
	data := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
	data = append(data, pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	c, err := EstimateDecode(data)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(6320*6320) * 12; c.Bytes != want {
		t.Errorf("estimate %d bytes, want %d (8 B/px NRGBA64 + 4 B/px RGBA)", c.Bytes, want)
	}
	var got int64
	alloc := allocated(func() {
		_, err = DecodeWith(bytes.NewReader(data), Limits{MaxPixels: 40_000_000, MaxBytes: 1 << 20, MaxDecodedBytes: 256 << 20})
	})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("decode: %v, want ErrTooLarge", err)
	}
	if got = alloc; got > 1<<20 {
		t.Errorf("refusal allocated %d bytes, want < 1 MiB", got)
	}
	if DecisionForError(err) != DecisionTooLarge {
		t.Errorf("decision %q, want TOO_LARGE", DecisionForError(err))
	}
}

func TestEstimateDecodeRefusesOtherFormats(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":     nil,
		"gif":       []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
		"text":      []byte("not an image"),
		"png no ih": []byte("\x89PNG\r\n\x1a\n"),
	} {
		if _, err := EstimateDecode(b); !errors.Is(err, ErrDecode) {
			t.Errorf("%s: %v, want ErrDecode", name, err)
		}
	}
}

func FuzzEstimateDecode(f *testing.F) {
	f.Add(encodeJPEG(f, quadrants(16, 8)))
	f.Add(jpegWithOrientation(f, quadrants(16, 8), 6, binary.BigEndian))
	f.Add(encodePNG(f, image.NewNRGBA64(image.Rect(0, 0, 5, 3))))
	f.Add(interlacedPNG16(9, 9))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := EstimateDecode(b)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("unwrapped error %v", err)
			}
			return
		}
		if c.Width <= 0 || c.Height <= 0 || c.Bytes < int64(c.Width)*int64(c.Height) {
			t.Fatalf("implausible cost %+v", c)
		}
	})
}

// opaqueImage hides an image's concrete type, so ToOpaqueRGBA takes its
// generic per-pixel path.
type opaqueImage struct{ image.Image }

// TestToOpaqueRGBATypedPathsMatchGeneric: the typed loops for NRGBA64,
// RGBA64, Gray16 and Paletted give exactly the generic conversion's pixels.
func TestToOpaqueRGBATypedPathsMatchGeneric(t *testing.T) {
	rect := image.Rect(3, 2, 67, 50) // not at the origin
	seed := uint32(1)
	next := func() uint16 { seed = seed*1664525 + 1013904223; return uint16(seed >> 16) }
	n64 := image.NewNRGBA64(rect)
	r64 := image.NewRGBA64(rect)
	g16 := image.NewGray16(rect)
	pal := image.NewPaletted(rect, color.Palette{color.NRGBA{10, 20, 30, 0}, color.NRGBA{200, 100, 50, 128}, color.RGBA{9, 9, 9, 255}})
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			a := next()
			switch x % 3 { // transparent, opaque and semi-transparent pixels
			case 0:
				a = 0
			case 1:
				a = 0xffff
			}
			n64.SetNRGBA64(x, y, color.NRGBA64{next(), next(), next(), a})
			m := func(v uint16) uint16 { return uint16(uint32(v) * uint32(a) / 0xffff) }
			r64.SetRGBA64(x, y, color.RGBA64{m(next()), m(next()), m(next()), a})
			g16.SetGray16(x, y, color.Gray16{next()})
			pal.SetColorIndex(x, y, uint8(next()%4)) // index 3 is outside the palette
		}
	}
	for _, img := range []image.Image{n64, r64, g16, pal} {
		got := ToOpaqueRGBA(img, nil)
		var want *image.RGBA
		if p, ok := img.(*image.Paletted); ok {
			// The generic path cannot read an index outside the palette
			// (At panics): compare with the palette padded with opaque
			// black, as image/png pads it.
			padded := *p
			padded.Palette = append(append(color.Palette{}, p.Palette...), color.Black)
			want = ToOpaqueRGBA(opaqueImage{&padded}, nil)
		} else {
			want = ToOpaqueRGBA(opaqueImage{img}, nil)
		}
		if !bytes.Equal(got.Pix, want.Pix) || got.Rect != want.Rect {
			t.Errorf("%T: typed conversion differs from the generic one", img)
		}
	}
}
