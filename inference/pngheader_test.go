package inference

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

// pngHeader returns a PNG signature and IHDR chunk declaring w×h RGB, with
// no pixel data.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 17)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	ihdr[12], ihdr[13] = 8, 2 // 8-bit RGB
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr))
	return b.Bytes()
}

// TestHugePNGHeader: a header whose pixel count overflows a 32-bit int is
// ErrTooLarge on every architecture (on linux/arm image/png itself refuses
// it as a "dimension overflow", which would otherwise be ErrDecode).
func TestHugePNGHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		w, h uint32
	}{
		{"100000x100000", 100000, 100000},
		{"65536x65536", 65536, 65536},
		{"2147483647x2", 1<<31 - 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(pngHeader(tc.w, tc.h)), DefaultConfig().MaxPixels)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
		})
	}
}
