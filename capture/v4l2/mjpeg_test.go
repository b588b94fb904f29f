package v4l2

import (
	"bytes"
	"errors"
	"flag"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// testPicture is a w×h image with gradients and a sharp edge, so that
// every Huffman table is exercised.
func testPicture(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x ^ y) * 4), 255}
			if x > w/2 && y > h/2 {
				c = color.RGBA{250, 20, 30, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// segments splits a JPEG header (up to SOS) into its marker segments.
func segments(t testing.TB, b []byte) (segs [][]byte, sos int) {
	t.Helper()
	i := 2
	for {
		if b[i] != 0xFF {
			t.Fatalf("bad marker at %d", i)
		}
		m := b[i+1]
		if m == markerSOS {
			return segs, i
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		segs = append(segs, b[i:i+2+n])
		i += 2 + n
	}
}

// stripDHT removes every DHT segment, as UVC cameras send their frames.
func stripDHT(t testing.TB, b []byte) []byte {
	t.Helper()
	segs, sos := segments(t, b)
	out := []byte{0xFF, markerSOI}
	removed := 0
	for _, s := range segs {
		if s[1] == markerDHT {
			removed++
			continue
		}
		out = append(out, s...)
	}
	if removed == 0 {
		t.Fatal("encoder wrote no DHT")
	}
	return append(out, b[sos:]...)
}

func TestStdDHTSegment(t *testing.T) {
	if len(stdDHT) != 2+418 || stdDHT[2] != 0x01 || stdDHT[3] != 0xA2 {
		t.Fatalf("DHT segment: %d bytes, length field %x %x; want 420 bytes, length 418 (0x01A2)", len(stdDHT), stdDHT[2], stdDHT[3])
	}
	// Each table: BITS sum equals the number of HUFFVAL symbols (T.81 B.2.4.2).
	p := stdDHT[4:]
	for _, want := range []struct {
		tcth byte
		n    int
	}{{0x00, 12}, {0x10, 162}, {0x01, 12}, {0x11, 162}} {
		if p[0] != want.tcth {
			t.Fatalf("table class/id %#x, want %#x", p[0], want.tcth)
		}
		sum := 0
		for _, c := range p[1:17] {
			sum += int(c)
		}
		if sum != want.n {
			t.Fatalf("table %#x: BITS sum %d, want %d", want.tcth, sum, want.n)
		}
		p = p[17+sum:]
	}
	if len(p) != 0 {
		t.Fatalf("%d trailing bytes", len(p))
	}
	// Go's encoder writes the same Annex K tables in one DHT segment.
	segs, _ := segments(t, encodeJPEG(t, testPicture(16, 16), 90))
	for _, s := range segs {
		if s[1] == markerDHT && !bytes.Equal(s, stdDHT) {
			t.Fatal("stdDHT differs from the Annex K tables image/jpeg writes")
		}
	}
}

func TestDecodeMJPEGWithoutDHT(t *testing.T) {
	tests := []struct {
		name string
		w, h int
		q    int
	}{
		{"64x48 q90", 64, 48, 90},
		{"odd 33x17 q50", 33, 17, 50},
		{"640x480 q75", 640, 480, 75},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := encodeJPEG(t, testPicture(tc.w, tc.h), tc.q)
			frame := stripDHT(t, orig)
			if _, err := jpeg.Decode(bytes.NewReader(frame)); err == nil {
				t.Fatal("a frame without DHT decodes as is; the test proves nothing")
			}
			img, fixed, err := DecodeMJPEG(frame, tc.w, tc.h, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := jpeg.Decode(bytes.NewReader(orig))
			wantRGBA := image.NewRGBA(want.Bounds())
			for y := 0; y < tc.h; y++ {
				for x := 0; x < tc.w; x++ {
					wantRGBA.Set(x, y, want.At(x, y))
				}
			}
			if !bytes.Equal(img.Pix, wantRGBA.Pix) {
				t.Fatal("decoded pixels differ from the original frame's")
			}
			if len(fixed) != len(frame)+len(stdDHT) {
				t.Fatalf("fixed frame %d bytes, want %d", len(fixed), len(frame)+len(stdDHT))
			}
			if _, err := jpeg.Decode(bytes.NewReader(fixed)); err != nil {
				t.Fatalf("returned JPEG bytes do not decode: %v", err)
			}
		})
	}
}

func TestAppendMJPEGKeepsCompleteFrames(t *testing.T) {
	orig := encodeJPEG(t, testPicture(32, 32), 80)
	out, inserted, err := AppendMJPEG(make([]byte, 0, 10), orig)
	if err != nil || inserted || !bytes.Equal(out, orig) {
		t.Fatalf("inserted=%v err=%v equal=%v; want an untouched copy", inserted, err, bytes.Equal(out, orig))
	}
	// Fill bytes before a marker and an AVI1 APP0 (as UVC cameras send).
	frame := stripDHT(t, orig)
	avi := []byte{0xFF, 0xFF, 0xE0, 0x00, 0x08, 'A', 'V', 'I', '1', 0, 0}
	withApp := append(append([]byte{0xFF, markerSOI}, avi...), frame[2:]...)
	out, inserted, err = AppendMJPEG(nil, withApp)
	if err != nil || !inserted {
		t.Fatalf("inserted=%v err=%v", inserted, err)
	}
	if !bytes.HasPrefix(out, append([]byte{0xFF, markerSOI}, avi...)) {
		t.Fatal("APP0 not kept in place")
	}
	if _, err := decodeFixed(out, 32, 32, nil); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeMJPEGCorrupt(t *testing.T) {
	orig := stripDHT(t, encodeJPEG(t, testPicture(64, 48), 90))
	_, sos := segments(t, orig)
	tests := []struct {
		name  string
		frame []byte
		w, h  int
	}{
		{"empty", nil, 64, 48},
		{"no SOI", orig[2:], 64, 48},
		{"SOI only", orig[:2], 64, 48},
		{"truncated in header", orig[:sos-3], 64, 48},
		{"truncated before SOS", orig[:sos], 64, 48},
		{"truncated in scan", orig[:sos+(len(orig)-sos)/2], 64, 48},
		{"EOI before scan", []byte{0xFF, 0xD8, 0xFF, 0xD9}, 64, 48},
		{"junk between segments", append([]byte{0xFF, 0xD8, 0x00}, orig[2:]...), 64, 48},
		{"segment length past end", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF, 0}, 64, 48},
		{"segment length below 2", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01, 0}, 64, 48},
		{"wrong size", orig, 640, 480},
		{"zeroes", make([]byte, 1000), 64, 48},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, fixed, err := DecodeMJPEG(tc.frame, tc.w, tc.h, nil)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if img != nil || fixed != nil {
				t.Fatal("returned data with an error")
			}
		})
	}
}

// TestMJPEGGolden decodes a recorded-style frame (no DHT, AVI1 APP0) kept
// in testdata and compares with the golden PNG; -update regenerates both.
func TestMJPEGGolden(t *testing.T) {
	framePath := filepath.Join("testdata", "uvc_nodht_80x60.mjpg")
	goldenPath := filepath.Join("testdata", "uvc_nodht_80x60.png")
	if *update {
		frame := stripDHT(t, encodeJPEG(t, testPicture(80, 60), 85))
		avi := []byte{0xFF, 0xE0, 0x00, 0x08, 'A', 'V', 'I', '1', 0, 0}
		frame = append(append([]byte{0xFF, markerSOI}, avi...), frame[2:]...)
		img, _, err := DecodeMJPEG(frame, 80, 60, nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		png.Encode(&buf, img)
		os.WriteFile(framePath, frame, 0o644)
		os.WriteFile(goldenPath, buf.Bytes(), 0o644)
	}
	frame, err := os.ReadFile(framePath)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	golden, err := png.Decode(bytes.NewReader(gb))
	if err != nil {
		t.Fatal(err)
	}
	if _, hasDHT, err := scanHeader(frame); err != nil || hasDHT {
		t.Fatalf("golden frame: hasDHT=%v err=%v; want a frame without DHT", hasDHT, err)
	}
	img, _, err := DecodeMJPEG(frame, 80, 60, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := image.NewRGBA(golden.Bounds())
	for y := 0; y < 60; y++ {
		for x := 0; x < 80; x++ {
			g.Set(x, y, golden.At(x, y))
		}
	}
	if !bytes.Equal(img.Pix, g.Pix) {
		t.Fatal("decoded frame differs from the golden image")
	}
}

func BenchmarkDecodeMJPEG640x480(b *testing.B) {
	frame := stripDHT(b, encodeJPEG(b, testPicture(640, 480), 80))
	dst := image.NewRGBA(image.Rect(0, 0, 640, 480))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		fixed, _, err := AppendMJPEG(nil, frame)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeFixed(fixed, 640, 480, dst); err != nil {
			b.Fatal(err)
		}
	}
}
