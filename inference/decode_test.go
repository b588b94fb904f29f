package inference

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// quadColours are the top-left, top-right, bottom-left and bottom-right
// colours of quadrants.
var quadColours = [4]color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {255, 255, 255, 255}}

// quadrants is a w×h image of four solid quadrants, so that orientation
// stays visible after JPEG compression.
func quadrants(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			q := 0
			if x >= w/2 {
				q++
			}
			if y >= h/2 {
				q += 2
			}
			img.SetRGBA(x, y, quadColours[q])
		}
	}
	return img
}

// stored returns the pixels a camera stores so that orientation o displays
// upright: the inverse of Orient.
func stored(up *image.RGBA, o Orientation) *image.RGBA {
	inv := map[Orientation]Orientation{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}[o]
	return Orient(up, inv)
}

// exifAPP1 builds an APP1 segment holding a TIFF IFD0 with one Orientation
// entry in byte order bo.
func exifAPP1(o uint16, bo binary.ByteOrder) []byte {
	var t bytes.Buffer
	if bo == binary.LittleEndian {
		t.WriteString("II*\x00")
	} else {
		t.WriteString("MM\x00*")
	}
	binary.Write(&t, bo, uint32(8))
	binary.Write(&t, bo, uint16(1))
	binary.Write(&t, bo, uint16(exifOrientationTag))
	binary.Write(&t, bo, uint16(3))
	binary.Write(&t, bo, uint32(1))
	binary.Write(&t, bo, o)
	binary.Write(&t, bo, uint16(0))
	binary.Write(&t, bo, uint32(0))
	payload := append([]byte("Exif\x00\x00"), t.Bytes()...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	return append(seg, payload...)
}

func jpegWithOrientation(t testing.TB, img image.Image, o uint16, bo binary.ByteOrder) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	out := append([]byte{}, b[:2]...)
	out = append(out, exifAPP1(o, bo)...)
	return append(out, b[2:]...)
}

func near(a, b color.RGBA) bool {
	d := func(x, y uint8) int {
		if x > y {
			return int(x - y)
		}
		return int(y - x)
	}
	return d(a.R, b.R) < 40 && d(a.G, b.G) < 40 && d(a.B, b.B) < 40
}

func TestDecodeAppliesEveryOrientation(t *testing.T) {
	up := quadrants(64, 32) // landscape upright
	for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for o := uint16(0); o <= 9; o++ {
			eff := Orientation(o)
			if o == 0 || o > 8 {
				eff = 1 // invalid values are treated as "as stored"
			}
			data := jpegWithOrientation(t, stored(up, eff), o, bo)
			if got := ExifOrientation(data); got != eff {
				t.Errorf("%v orientation %d: parsed %d, want %d", bo, o, got, eff)
			}
			img, err := Decode(bytes.NewReader(data), 1<<20)
			if err != nil {
				t.Fatalf("orientation %d: %v", o, err)
			}
			rgba := img.(*image.RGBA)
			if rgba.Rect != up.Rect {
				t.Fatalf("orientation %d: bounds %v, want %v", o, rgba.Rect, up.Rect)
			}
			for _, p := range []image.Point{{8, 8}, {56, 8}, {8, 24}, {56, 24}} {
				if g, w := rgba.RGBAAt(p.X, p.Y), up.RGBAAt(p.X, p.Y); !near(g, w) {
					t.Errorf("%v orientation %d at %v: %v, want %v", bo, o, p, g, w)
				}
			}
		}
	}
}

func TestOrientIsPermutation(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for i := 0; i < 6; i++ {
		src.Pix[4*i] = uint8(i + 1)
	}
	// Expected layouts of pixel ids (row-major) after each orientation.
	want := map[Orientation][]uint8{
		2: {3, 2, 1, 6, 5, 4},
		3: {6, 5, 4, 3, 2, 1},
		4: {4, 5, 6, 1, 2, 3},
		5: {1, 4, 2, 5, 3, 6},
		6: {4, 1, 5, 2, 6, 3},
		7: {6, 3, 5, 2, 4, 1},
		8: {3, 6, 2, 5, 1, 4},
	}
	for o, ids := range want {
		out := Orient(src, o)
		var got []uint8
		for i := 0; i < 6; i++ {
			got = append(got, out.Pix[4*i])
		}
		if !bytes.Equal(got, ids) {
			t.Errorf("orientation %d: %v, want %v", o, got, ids)
		}
	}
}

func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

func TestDecodeRefusesHugeHeaderBeforeDecoding(t *testing.T) {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 100000)
	binary.BigEndian.PutUint32(ihdr[4:], 100000)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	data := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
	data = append(data, pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	data = append(data, pngChunk("IEND", nil)...)
	_, err := Decode(bytes.NewReader(data), 40_000_000)
	if !errors.Is(err, ErrTooLarge) || DecisionForError(err) != DecisionTooLarge {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	var good bytes.Buffer
	if err := jpeg.Encode(&good, quadrants(64, 64), nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		data     []byte
		maxBytes int64
		want     error
	}{
		{"empty", nil, 1 << 20, ErrDecode},
		{"text", []byte("hello, not an image"), 1 << 20, ErrDecode},
		{"truncated", good.Bytes()[:good.Len()/2], 1 << 20, ErrDecode},
		{"header only", good.Bytes()[:200], 1 << 20, ErrDecode},
		{"too many bytes", good.Bytes(), int64(good.Len() - 1), ErrTooLarge},
	} {
		_, err := DecodeLimits(bytes.NewReader(c.data), 1<<20, c.maxBytes)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := DecodeLimits(bytes.NewReader(good.Bytes()), 64*64-1, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("pixel limit: err %v", err)
	}
}

func TestDecodeAlphaAndGrey(t *testing.T) {
	n := image.NewNRGBA(image.Rect(0, 0, 4, 1))
	// opaque red, transparent green, half-transparent blue, transparent black
	copy(n.Pix, []uint8{255, 0, 0, 255, 0, 255, 0, 0, 0, 0, 255, 128, 0, 0, 0, 0})
	var buf bytes.Buffer
	if err := png.Encode(&buf, n); err != nil {
		t.Fatal(err)
	}
	img, err := Decode(&buf, 100)
	if err != nil {
		t.Fatal(err)
	}
	rgba := img.(*image.RGBA)
	want := []color.RGBA{{255, 0, 0, 255}, {255, 255, 255, 255}, {127, 127, 255, 255}, {255, 255, 255, 255}}
	for x, w := range want {
		if g := rgba.RGBAAt(x, 0); g != w {
			t.Errorf("pixel %d: %v, want %v (straight colour over white)", x, g, w)
		}
	}

	grey := image.NewGray(image.Rect(0, 0, 2, 1))
	grey.Pix[0], grey.Pix[1] = 10, 200
	buf.Reset()
	if err := png.Encode(&buf, grey); err != nil {
		t.Fatal(err)
	}
	img, err = Decode(&buf, 100)
	if err != nil {
		t.Fatal(err)
	}
	if g := img.(*image.RGBA).RGBAAt(1, 0); g != (color.RGBA{200, 200, 200, 255}) {
		t.Errorf("grey pixel: %v", g)
	}
}

func TestExifOrientationMalformed(t *testing.T) {
	good := exifAPP1(6, binary.LittleEndian)
	jpegPrefix := []byte{0xFF, 0xD8}
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"no soi", good},
		{"segment length past end", append(jpegPrefix, 0xFF, 0xE1, 0xFF, 0xFF, 'E')},
		{"bad tiff magic", append(jpegPrefix, bytes.Replace(good, []byte("II*\x00"), []byte("XX*\x00"), 1)...)},
		{"ifd offset past end", append(jpegPrefix, bytes.Replace(good, []byte("II*\x00\x08\x00\x00\x00"), []byte("II*\x00\xff\xff\x00\x00"), 1)...)},
		{"scan before exif", append(append(jpegPrefix, 0xFF, 0xDA, 0, 2), good...)},
	} {
		if o := ExifOrientation(c.data); o != 1 {
			t.Errorf("%s: orientation %d, want 1", c.name, o)
		}
	}
	if o := ExifOrientation(append(jpegPrefix, good...)); o != 6 {
		t.Errorf("well-formed: %d, want 6", o)
	}
	// PNG eXIf chunk.
	tiff := good[4+6:]
	p := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("eXIf", tiff)...)
	if o := ExifOrientation(p); o != 6 {
		t.Errorf("png eXIf: %d, want 6", o)
	}
}

func FuzzExifOrientation(f *testing.F) {
	f.Add(append([]byte{0xFF, 0xD8}, exifAPP1(8, binary.BigEndian)...))
	f.Add(append([]byte{0xFF, 0xD8}, exifAPP1(3, binary.LittleEndian)...))
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := ExifOrientation(b); o < 1 || o > 8 {
			t.Fatalf("orientation %d out of range", o)
		}
	})
}

func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, quadrants(16, 8), nil)
	f.Add(jpegWithOrientation(f, quadrants(16, 8), 6, binary.LittleEndian))
	f.Add(buf.Bytes())
	buf.Reset()
	_ = png.Encode(&buf, image.NewNRGBA(image.Rect(0, 0, 5, 3)))
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := DecodeLimits(bytes.NewReader(b), 1<<16, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unwrapped error %v", err)
			}
			return
		}
		r, ok := img.(*image.RGBA)
		if !ok || r.Rect.Min != (image.Point{}) || r.Rect.Dx()*r.Rect.Dy() > 1<<16 || !r.Opaque() {
			t.Fatalf("bad result %T %v", img, img.Bounds())
		}
	})
}
