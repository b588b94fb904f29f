package inference

import (
	"bytes"
	"encoding/binary"
)

// MaxJPEGScans bounds the scans (SOS markers) of a JPEG file that
// EstimateDecode accepts. Every scan of a progressive file makes the
// decoder (image/jpeg and libjpeg-turbo alike) visit every block of the
// scan's components again, however few bytes the scan holds: an end-of-band
// run codes 32767 blocks in 2 bytes, so a 1.3 MB file of 100 000 scans
// costs minutes of CPU at 2048×2048. Encoders write 1 (baseline) to 3
// scans, or 6 (grey) to 10 (colour) for libjpeg's standard progression
// (jpegtran -progressive); libjpeg-turbo's own TurboJPEG API refuses more
// than 500 when asked to limit scans. 100 leaves ten times the usual
// progression and bounds the bomb to about 100 passes over the blocks.
const MaxJPEGScans = 100

// jpegScans counts the SOS markers of the JPEG file b from its SOI to its
// EOI (or its end), skipping every marker segment by its length and the
// entropy-coded data between markers, as a decoder does. It reads only
// data within b; it stops counting once more than limit are found.
func jpegScans(b []byte, limit int) int {
	n := 0
	for i := 2; i+1 < len(b) && n <= limit; {
		j := bytes.IndexByte(b[i:], 0xFF)
		if j < 0 || i+j+1 >= len(b) {
			break
		}
		i += j
		switch m := b[i+1]; {
		case m == 0xFF: // fill byte
			i++
		case m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8): // stuffed 0xFF, TEM, RSTn, SOI: no length
			i += 2
		case m == 0xD9: // EOI
			return n
		default:
			if m == 0xDA {
				n++
			}
			if i+4 > len(b) {
				return n
			}
			i += 2 + int(binary.BigEndian.Uint16(b[i+2:]))
		}
	}
	return n
}
