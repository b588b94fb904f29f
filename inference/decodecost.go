package inference

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"math"
)

// DecodeCost is what decoding an encoded image will take, read from its
// header alone (no pixel is decoded).
type DecodeCost struct {
	Format        string // "jpeg" or "png"
	Width, Height int    // pixels, as stored (before EXIF rotation)
	// Bytes is the peak of pixel memory DecodeLimits allocates for the
	// image, in bytes: the decoder's own buffers as Go's image/jpeg and
	// image/png allocate them, plus the opaque RGBA copy (4 bytes a pixel)
	// and, for EXIF orientations 2–8, the rotated copy (4 more). It is an
	// upper bound for valid files, e.g.:
	//
	//	PNG 16-bit RGBA (NRGBA64, 8 B/px) + RGBA copy  = 12 B/px
	//	PNG  8-bit RGB, opaque (decodes to RGBA)        =  4 B/px
	//	PNG interlaced: the seven pass images double the decoder's share
	//	JPEG baseline 4:2:0 (YCbCr 1.5 B/px) + RGBA    = 5.5 B/px
	//	JPEG progressive: + 4 bytes per coefficient of every component
	//	JPEG CMYK/YCCK: YCbCr + black plane + CMYK     = up to 12 B/px + RGBA
	//
	// Small per-row buffers and the encoded bytes are not counted. An
	// installed JPEGDecoder (SetJPEGDecoder) needs less, the RGBA image and
	// its own buffers, but a file it refuses is decoded by image/jpeg, so
	// the estimate stays image/jpeg's.
	Bytes int64
}

// BytesPerPixel is Bytes / (Width × Height), for logs and messages.
func (c DecodeCost) BytesPerPixel() float64 {
	if c.Width <= 0 || c.Height <= 0 {
		return 0
	}
	return float64(c.Bytes) / float64(c.Width) / float64(c.Height)
}

// EstimateDecode parses the header of a JPEG or PNG file and returns its
// format, size and decode cost (see DecodeCost.Bytes). Anything else, or a
// header that cannot be parsed, returns an error wrapping ErrDecode. It
// reads only data within b and never panics (FuzzEstimateDecode).
func EstimateDecode(b []byte) (DecodeCost, error) {
	if w, h, ok := pngHeaderSize(b); ok && w <= math.MaxInt32 && h <= math.MaxInt32 && overflowsInt(w, h) {
		// too large for image/png on this platform: report the size, which
		// every caller's pixel limit refuses (ErrTooLarge), as on 64-bit
		return DecodeCost{Format: "png", Width: int(w), Height: int(h), Bytes: math.MaxInt64}, nil
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return DecodeCost{}, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if format != "jpeg" && format != "png" {
		return DecodeCost{}, fmt.Errorf("%w: unsupported format %q (JPEG or PNG only)", ErrDecode, format)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return DecodeCost{}, fmt.Errorf("%w: empty image %dx%d", ErrDecode, cfg.Width, cfg.Height)
	}
	c := DecodeCost{Format: format, Width: cfg.Width, Height: cfg.Height}
	px := int64(cfg.Width) * int64(cfg.Height)
	var decoder int64
	if format == "png" {
		decoder, err = pngDecodeBytes(b, px)
	} else {
		decoder, err = jpegDecodeBytes(b, cfg.Width, cfg.Height)
	}
	if err != nil {
		return DecodeCost{}, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	c.Bytes = decoder + 4*px // ToOpaqueRGBA's copy
	if o := ExifOrientation(b); o >= 2 && o <= 8 {
		c.Bytes += 4 * px // Orient's copy
	}
	return c, nil
}

// pngDecodeBytes is what image/png allocates for the image of a PNG of px
// pixels: one image whose pixel size follows the colour type, bit depth and
// the presence of a tRNS chunk, twice that when interlaced (the passes are
// decoded into images of their own, then merged).
func pngDecodeBytes(b []byte, px int64) (int64, error) {
	// Signature (8), IHDR length+type (8), IHDR data (13).
	if len(b) < 8+8+13 || string(b[12:16]) != "IHDR" {
		return 0, fmt.Errorf("png: no IHDR")
	}
	depth, colour, interlace := b[24], b[25], b[28]
	trns := false
	for off := 8; off+8 <= len(b); {
		n := int64(binary.BigEndian.Uint32(b[off:]))
		typ := string(b[off+4 : off+8])
		if typ == "IDAT" || typ == "IEND" {
			break
		}
		if typ == "tRNS" {
			trns = true
		}
		next := int64(off) + 12 + n
		if next > int64(len(b)) {
			break
		}
		off = int(next)
	}
	var bpp int64 // bytes per pixel of the decoded image
	switch {
	case depth == 16:
		bpp = 8 // Gray16 is 2, but with tRNS it is NRGBA64: take the bound
		if colour == 0 && !trns {
			bpp = 2
		}
	case colour == 3: // paletted, any depth
		bpp = 1
	case colour == 0 && !trns: // grey ≤ 8 bits
		bpp = 1
	default: // RGBA or NRGBA
		bpp = 4
	}
	n := bpp * px
	if interlace == 1 {
		n *= 2
	}
	// An opaque 8-bit truecolour PNG decodes to an opaque *image.RGBA,
	// which ToOpaqueRGBA returns as is: no copy. EstimateDecode adds the
	// copy for every image; take it back here.
	if depth == 8 && colour == 2 && !trns {
		n -= 4 * px
	}
	return n, nil
}

// jpegDecodeBytes is what image/jpeg allocates for a w×h JPEG: the YCbCr
// (or Gray) image over whole MCUs, the black plane and CMYK/RGBA result of
// 4-component files, the RGBA result of RGB (Adobe transform 0 or component
// ids 'R','G','B') files, and the coefficients (64 int32 a block) of
// progressive ones.
func jpegDecodeBytes(b []byte, w, h int) (int64, error) {
	type comp struct{ id, h, v int }
	var (
		comps       []comp
		progressive bool
		adobeRGB    bool
	)
	// Walk the marker segments up to the first SOS.
	off := 2
	for off+4 <= len(b) {
		if b[off] != 0xFF {
			return 0, fmt.Errorf("jpeg: marker expected at %d", off)
		}
		m := b[off+1]
		if m == 0xFF { // fill byte
			off++
			continue
		}
		if m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7) {
			off += 2
			continue
		}
		if m == 0xDA || m == 0xD9 { // SOS, EOI
			break
		}
		n := int(binary.BigEndian.Uint16(b[off+2:]))
		if n < 2 || off+2+n > len(b) {
			return 0, fmt.Errorf("jpeg: segment %#x overruns the file", m)
		}
		seg := b[off+4 : off+2+n]
		switch {
		case (m == 0xC0 || m == 0xC1 || m == 0xC2) && comps == nil:
			progressive = m == 0xC2
			if len(seg) < 6 {
				return 0, fmt.Errorf("jpeg: short SOF")
			}
			nc := int(seg[5])
			if len(seg) < 6+3*nc {
				return 0, fmt.Errorf("jpeg: short SOF")
			}
			for i := range nc {
				hv := seg[6+3*i+1]
				comps = append(comps, comp{int(seg[6+3*i]), max(int(hv>>4), 1), max(int(hv&15), 1)})
			}
		case m == 0xEE && len(seg) >= 12 && string(seg[:5]) == "Adobe":
			adobeRGB = seg[11] == 0
		}
		off += 2 + n
	}
	if len(comps) != 1 && len(comps) != 3 && len(comps) != 4 {
		return 0, fmt.Errorf("jpeg: %d components", len(comps))
	}
	px := int64(w) * int64(h)
	if len(comps) == 1 {
		comps[0].h, comps[0].v = 1, 1 // image/jpeg ignores a lone component's factors
	}
	hmax, vmax := 1, 1
	for _, c := range comps {
		hmax, vmax = max(hmax, c.h), max(vmax, c.v)
	}
	mxx := int64((w + 8*hmax - 1) / (8 * hmax))
	myy := int64((h + 8*vmax - 1) / (8 * vmax))
	W, H := 8*int64(hmax)*mxx, 8*int64(vmax)*myy
	var n int64
	if len(comps) == 1 {
		n = W * H
	} else {
		// Y plus two chroma planes, subsampled by the first component's
		// factors over the second's (image.NewYCbCr), at worst 4:4:4.
		hr, vr := max(comps[0].h/max(comps[1].h, 1), 1), max(comps[0].v/max(comps[1].v, 1), 1)
		n = W*H + 2*((W+int64(hr)-1)/int64(hr))*((H+int64(vr)-1)/int64(vr))
	}
	if len(comps) == 4 {
		c := comps[3]
		n += 8 * int64(c.h) * mxx * 8 * int64(c.v) * myy // black plane
		n += 4 * px                                      // CMYK or RGBA result
	}
	if len(comps) == 3 && (adobeRGB || comps[0].id == 'R' && comps[1].id == 'G' && comps[2].id == 'B') {
		n += 4 * px // converted to RGBA
	}
	if progressive {
		for _, c := range comps {
			n += mxx * myy * int64(c.h*c.v) * 64 * 4
		}
	}
	return n, nil
}
