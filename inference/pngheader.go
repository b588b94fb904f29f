package inference

import (
	"bytes"
	"encoding/binary"
	"math"
)

// pngHeaderSize reads width and height from a PNG's IHDR chunk without
// image/png, which on 32-bit platforms (linux/arm) refuses a header whose
// width × height overflows int ("dimension overflow") before the pixel
// limit can be applied. ok is false when b is not a PNG with an IHDR first.
func pngHeaderSize(b []byte) (w, h int64, ok bool) {
	if len(b) < 24 || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || string(b[12:16]) != "IHDR" {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint32(b[16:20])), int64(binary.BigEndian.Uint32(b[20:24])), true
}

// overflowsInt reports whether w × h does not fit this platform's int.
func overflowsInt(w, h int64) bool {
	return w > 0 && h > 0 && (w > math.MaxInt || h > math.MaxInt/w)
}
