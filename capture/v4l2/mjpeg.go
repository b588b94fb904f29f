package v4l2

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"

	"github.com/faceverify/faceverify/capture"
)

// ErrCorrupt is returned (wrapped) for a frame that cannot be decoded: a
// malformed or truncated JPEG stream, or a frame of the wrong size.
var ErrCorrupt = errors.New("corrupt frame")

// JPEG markers (ITU-T T.81 Table B.1).
const (
	markerSOI = 0xD8
	markerEOI = 0xD9
	markerSOS = 0xDA
	markerDHT = 0xC4
	markerTEM = 0x01
	markerRST = 0xD0 // RST0; RST0–RST7 are 0xD0–0xD7
)

// stdDHT is a complete DHT segment (marker, length 418, four tables) with
// the typical Huffman tables of ITU-T T.81 Annex K.3 (Tables K.3–K.6):
// luminance DC (class 0, id 0), luminance AC (class 1, id 0), chrominance
// DC (class 0, id 1), chrominance AC (class 1, id 1). UVC cameras that
// omit DHT from their MJPEG frames (USB Video Class, Motion-JPEG payload
// spec 1.0 §2.4) use exactly these tables.
var stdDHT = buildDHT()

// Annex K.3 table data: BITS (number of codes of each length 1–16) and
// HUFFVAL (symbols in code order).
var (
	dcLumBits   = [16]byte{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0}
	dcChromBits = [16]byte{0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}
	dcVals      = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}

	acLumBits = [16]byte{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d}
	acLumVals = []byte{
		0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
		0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
		0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
		0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
		0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
		0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
		0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
		0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
		0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
		0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
		0xf9, 0xfa,
	}
	acChromBits = [16]byte{0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77}
	acChromVals = []byte{
		0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
		0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
		0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
		0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
		0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
		0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
		0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
		0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
		0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
		0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
		0xf9, 0xfa,
	}
)

func buildDHT() []byte {
	tables := []struct {
		tcth byte // Tc (class) << 4 | Th (destination id)
		bits *[16]byte
		vals []byte
	}{
		{0x00, &dcLumBits, dcVals},
		{0x10, &acLumBits, acLumVals},
		{0x01, &dcChromBits, dcVals},
		{0x11, &acChromBits, acChromVals},
	}
	n := 2
	for _, t := range tables {
		n += 1 + 16 + len(t.vals)
	}
	b := []byte{0xFF, markerDHT, byte(n >> 8), byte(n)}
	for _, t := range tables {
		b = append(b, t.tcth)
		b = append(b, t.bits[:]...)
		b = append(b, t.vals...)
	}
	return b
}

// scanHeader walks the marker segments of a JPEG stream from SOI up to the
// first SOS and returns the offset of that SOS marker and whether a DHT
// segment came before it. Errors (ErrCorrupt, wrapped): no SOI, a segment
// running past the end, EOI or junk before any scan.
func scanHeader(b []byte) (sos int, hasDHT bool, err error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != markerSOI {
		return 0, false, fmt.Errorf("%w: no JPEG start marker", ErrCorrupt)
	}
	i := 2
	for {
		if i >= len(b) {
			return 0, false, fmt.Errorf("%w: truncated before the scan", ErrCorrupt)
		}
		if b[i] != 0xFF {
			return 0, false, fmt.Errorf("%w: junk byte 0x%02x at %d between segments", ErrCorrupt, b[i], i)
		}
		at := i
		for i < len(b) && b[i] == 0xFF { // fill bytes (T.81 B.1.1.2)
			i++
		}
		if i >= len(b) {
			return 0, false, fmt.Errorf("%w: truncated before the scan", ErrCorrupt)
		}
		m := b[i]
		i++
		switch {
		case m == markerSOS:
			return at, hasDHT, nil
		case m == markerEOI || m == markerSOI || m == 0x00:
			return 0, false, fmt.Errorf("%w: marker 0x%02x before the scan", ErrCorrupt, m)
		case m == markerTEM || m >= markerRST && m <= markerRST+7:
			continue // no length field
		case m == markerDHT:
			hasDHT = true
		}
		if i+2 > len(b) {
			return 0, false, fmt.Errorf("%w: truncated segment 0x%02x", ErrCorrupt, m)
		}
		n := int(b[i])<<8 | int(b[i+1])
		if n < 2 || i+n > len(b) {
			return 0, false, fmt.Errorf("%w: segment 0x%02x length %d runs past %d bytes", ErrCorrupt, m, n, len(b))
		}
		i += n
	}
}

// AppendMJPEG appends the MJPEG frame to dst[:0] and returns it, inserting
// the standard Huffman tables (stdDHT) before the first SOS when the frame
// has no DHT segment; inserted reports that. It always copies (so a caller
// can hand the mmap'd driver buffer back at once). Errors (ErrCorrupt,
// wrapped) for a stream whose header is malformed or truncated; the entropy
// data is not checked here (DecodeMJPEG does).
func AppendMJPEG(dst, frame []byte) (out []byte, inserted bool, err error) {
	sos, hasDHT, err := scanHeader(frame)
	if err != nil {
		return dst[:0], false, err
	}
	if hasDHT {
		return append(dst[:0], frame...), false, nil
	}
	out = append(dst[:0], frame[:sos]...)
	out = append(out, stdDHT...)
	out = append(out, frame[sos:]...)
	return out, true, nil
}

// maxMJPEGPixels bounds the frame size DecodeMJPEG accepts when no size is
// expected: 8192×4096.
const maxMJPEGPixels = 8192 * 4096

// DecodeMJPEG decodes one MJPEG frame (with or without DHT) to opaque RGBA
// and returns it with the complete JPEG bytes (DHT inserted when it was
// missing, so they open in any viewer). When w and h are > 0 the frame
// must be exactly w×h; otherwise it must be at most 8192×4096 pixels. The
// size is checked from the header before any pixel memory is allocated.
// dst is reused when it is w×h at the origin (nil allocates). Errors:
// ErrCorrupt (wrapped) for a malformed, truncated or wrongly sized frame.
func DecodeMJPEG(frame []byte, w, h int, dst *image.RGBA) (*image.RGBA, []byte, error) {
	fixed, _, err := AppendMJPEG(nil, frame)
	if err != nil {
		return nil, nil, err
	}
	img, err := decodeFixed(fixed, w, h, dst)
	if err != nil {
		return nil, nil, err
	}
	return img, fixed, nil
}

// checkHeader reads the frame size from a complete JPEG's header and
// checks it as DecodeMJPEG does.
func checkHeader(fixed []byte, w, h int) (image.Config, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(fixed))
	if err != nil {
		return cfg, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	switch {
	case w > 0 && h > 0 && (cfg.Width != w || cfg.Height != h):
		return cfg, fmt.Errorf("%w: frame is %dx%d, format is %dx%d", ErrCorrupt, cfg.Width, cfg.Height, w, h)
	case cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxMJPEGPixels:
		return cfg, fmt.Errorf("%w: frame size %dx%d out of range", ErrCorrupt, cfg.Width, cfg.Height)
	}
	return cfg, nil
}

// endsWithEOI reports whether a JPEG stream ends with the EOI marker,
// ignoring the zero padding some cameras append to fill their buffers. A
// frame cut short by a USB error does not.
func endsWithEOI(b []byte) bool {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return n >= 2 && b[n-2] == 0xFF && b[n-1] == markerEOI
}

// lazyMJPEG returns a complete JPEG frame as a capture.LazyImage decoded
// (to opaque RGBA, as DecodeMJPEG) on first use: only its header is read
// here. A frame with a bad header or size is refused now (ErrCorrupt); one
// without its end marker is decoded now, so that a truncated frame is
// skipped by the source as before rather than failing its analysis.
func lazyMJPEG(fixed []byte, w, h int) (image.Image, error) {
	cfg, err := checkHeader(fixed, w, h)
	if err != nil {
		return nil, err
	}
	if !endsWithEOI(fixed) {
		img, err := decodeFixed(fixed, w, h, nil)
		if err != nil {
			return nil, err
		}
		return img, nil
	}
	return capture.NewLazyImage(image.Rect(0, 0, cfg.Width, cfg.Height), func() (image.Image, error) {
		return decodeFixed(fixed, cfg.Width, cfg.Height, nil)
	}), nil
}

// decodeFixed decodes a complete JPEG (DHT present) as DecodeMJPEG does.
func decodeFixed(fixed []byte, w, h int, dst *image.RGBA) (*image.RGBA, error) {
	cfg, err := checkHeader(fixed, w, h)
	if err != nil {
		return nil, err
	}
	img, err := jpeg.Decode(bytes.NewReader(fixed))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	r := img.Bounds()
	if r.Dx() != cfg.Width || r.Dy() != cfg.Height {
		return nil, fmt.Errorf("%w: decoded %v, header %dx%d", ErrCorrupt, r.Size(), cfg.Width, cfg.Height)
	}
	if dst == nil || dst.Rect != image.Rect(0, 0, r.Dx(), r.Dy()) {
		dst = image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	}
	draw.Draw(dst, dst.Rect, img, r.Min, draw.Src)
	return dst, nil
}
