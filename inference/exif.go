package inference

import "encoding/binary"

// Orientation is the EXIF Orientation tag (0x0112) of TIFF 6.0 / EXIF 2.32:
// how the stored pixels must be transformed to be viewed upright.
//
//	1 as stored            5 transpose (mirror + 270° CW)
//	2 mirror horizontally  6 rotate 90° CW
//	3 rotate 180°          7 transverse (mirror + 90° CW)
//	4 mirror vertically    8 rotate 270° CW (90° CCW)
type Orientation int

// exifOrientationTag is the TIFF tag number of Orientation.
const exifOrientationTag = 0x0112

// maxIFDEntries bounds the number of IFD0 entries examined; real files have
// a few dozen.
const maxIFDEntries = 1024

// ExifOrientation returns the EXIF orientation stored in a JPEG (APP1 "Exif"
// segment) or PNG (eXIf chunk) file. It returns 1 when the file has no EXIF
// data, no Orientation tag, or an out-of-range value (0 or > 8 are treated as
// 1, "as stored", which is what cameras that write 0 mean). It never panics
// on malformed input and reads only data within b.
//
// A small parser is used instead of an EXIF library: only one tag of IFD0 is
// needed, and the parser is fuzzed (FuzzExifOrientation).
func ExifOrientation(b []byte) Orientation {
	var tiff []byte
	switch {
	case len(b) >= 2 && b[0] == 0xFF && b[1] == 0xD8:
		tiff = jpegExif(b)
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		tiff = pngExif(b)
	}
	if tiff == nil {
		return 1
	}
	o := tiffOrientation(tiff)
	if o < 1 || o > 8 {
		return 1
	}
	return Orientation(o)
}

// jpegExif returns the TIFF payload of the first APP1 Exif segment before
// the first scan, or nil.
func jpegExif(b []byte) []byte {
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return nil
		}
		marker := b[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7): // no length
			i += 2
			continue
		case marker == 0xDA || marker == 0xD9: // start of scan / end of image
			return nil
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xE1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return seg[6:]
		}
		i += 2 + n
	}
	return nil
}

// pngExif returns the payload of the eXIf chunk before the first IDAT, or nil.
func pngExif(b []byte) []byte {
	i := 8
	for i+12 <= len(b) {
		n := binary.BigEndian.Uint32(b[i:])
		typ := string(b[i+4 : i+8])
		if uint64(n) > uint64(len(b)-i-12) {
			return nil
		}
		data := b[i+8 : i+8+int(n)]
		switch typ {
		case "eXIf":
			return data
		case "IDAT", "IEND":
			return nil
		}
		i += 12 + int(n)
	}
	return nil
}

// tiffOrientation reads tag 0x0112 from IFD0 of a TIFF structure; 0 when
// absent or malformed.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 0
	}
	off := uint64(bo.Uint32(t[4:]))
	if off+2 > uint64(len(t)) {
		return 0
	}
	n := int(bo.Uint16(t[off:]))
	if n > maxIFDEntries {
		n = maxIFDEntries
	}
	for k := 0; k < n; k++ {
		e := off + 2 + uint64(k)*12
		if e+12 > uint64(len(t)) {
			return 0
		}
		ent := t[e : e+12]
		if bo.Uint16(ent) != exifOrientationTag {
			continue
		}
		typ, count := bo.Uint16(ent[2:]), bo.Uint32(ent[4:])
		if count < 1 {
			return 0
		}
		switch typ {
		case 3: // SHORT
			return int(bo.Uint16(ent[8:]))
		case 4: // LONG, seen in some writers
			v := bo.Uint32(ent[8:])
			if v > 8 {
				return 0
			}
			return int(v)
		case 1: // BYTE
			return int(ent[8])
		}
		return 0
	}
	return 0
}
