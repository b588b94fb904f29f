package inference

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
)

// DefaultMaxBytes caps the encoded size Decode reads (32 MiB): a 40-Mpixel
// camera JPEG is ~15 MiB. Use DecodeLimits for another cap.
const DefaultMaxBytes = 32 << 20

// DefaultMaxDecodedBytes caps the decode cost (DecodeCost.Bytes) Decode and
// DecodeLimits accept: 1 GiB, above the 480 MB of the worst 40-Mpixel image
// (16-bit RGBA PNG, 12 B/px), so it refuses only what no pixel limit in
// use admits. Callers that decode concurrently bound the sum themselves
// (the gateway's decode budget).
const DefaultMaxDecodedBytes = 1 << 30

// Limits bound what DecodeWith accepts; each is checked from the header,
// before any pixel is decoded.
type Limits struct {
	// MaxPixels bounds width×height.
	MaxPixels int
	// MaxBytes bounds the encoded size read.
	MaxBytes int64
	// MaxDecodedBytes bounds DecodeCost.Bytes, the estimated pixel memory
	// of the decode; 0 means no bound.
	MaxDecodedBytes int64
}

// Decode reads a JPEG or PNG image of at most DefaultMaxBytes bytes,
// maxPixels pixels and DefaultMaxDecodedBytes of decode cost and returns it
// upright; the dynamic type is always an opaque *image.RGBA whose bounds
// start at (0,0). It is DecodeLimits(r, maxPixels, DefaultMaxBytes).
func Decode(r io.Reader, maxPixels int) (image.Image, error) {
	return DecodeLimits(r, maxPixels, DefaultMaxBytes)
}

// DecodeLimits is DecodeWith(r, Limits{maxPixels, maxBytes,
// DefaultMaxDecodedBytes}).
func DecodeLimits(r io.Reader, maxPixels int, maxBytes int64) (image.Image, error) {
	return DecodeWith(r, Limits{MaxPixels: maxPixels, MaxBytes: maxBytes, MaxDecodedBytes: DefaultMaxDecodedBytes})
}

// DecodeWith reads at most l.MaxBytes bytes from r and decodes them:
//
//   - The header is parsed first (EstimateDecode); width×height above
//     l.MaxPixels, or a decode cost (DecodeCost.Bytes: width × height ×
//     bytes per pixel of the decoder's buffers for this colour type and
//     bit depth, plus the copies made here) above l.MaxDecodedBytes,
//     returns ErrTooLarge before any pixel is decoded, as does an input
//     longer than l.MaxBytes.
//   - Only JPEG and PNG are accepted; anything else, a corrupt or truncated
//     file, or zero dimensions returns an error wrapping ErrDecode.
//   - JPEG files go to the JPEGDecoder installed with SetJPEGDecoder, if
//     any, and to image/jpeg when there is none or it refuses the file.
//   - The EXIF Orientation (JPEG APP1 or PNG eXIf; all 8 values, invalid ones
//     treated as 1) is applied, so the result is upright.
//   - Greyscale becomes R=G=B. Transparency is resolved without
//     premultiplying: each pixel's stored (straight) colour is composited
//     over opaque white, out = c·α + 255·(1−α), so fully opaque pixels keep
//     their exact values, transparent areas become white (as most viewers
//     show them) and semi-transparent edges are not darkened.
//
// The result is always fully opaque (A=255), so RGBA and NRGBA coincide.
func DecodeWith(r io.Reader, l Limits) (image.Image, error) {
	data, cost, err := readLimited(r, l)
	if err != nil {
		return nil, err
	}
	if cost.Format == "jpeg" {
		if fast, _, ok := decodeJPEGFast(data, cost.Width, cost.Height, newRGBA); ok {
			return Orient(fast, ExifOrientation(data)), nil
		}
	}
	var img image.Image
	if cost.Format == "jpeg" {
		img, err = jpeg.Decode(bytes.NewReader(data))
	} else {
		img, err = png.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if b := img.Bounds(); b.Dx() != cost.Width || b.Dy() != cost.Height {
		return nil, fmt.Errorf("%w: decoded size %v differs from header", ErrDecode, b.Size())
	}
	rgba := ToOpaqueRGBA(img, nil)
	return Orient(rgba, ExifOrientation(data)), nil
}

// readLimited reads r and checks its header against l (see DecodeWith).
func readLimited(r io.Reader, l Limits) ([]byte, DecodeCost, error) {
	data, err := io.ReadAll(io.LimitReader(r, l.MaxBytes+1))
	if err != nil {
		return nil, DecodeCost{}, fmt.Errorf("read image: %w", err)
	}
	if int64(len(data)) > l.MaxBytes {
		return nil, DecodeCost{}, fmt.Errorf("image longer than %d bytes: %w", l.MaxBytes, ErrTooLarge)
	}
	cost, err := EstimateDecode(data)
	if err != nil {
		return nil, cost, err
	}
	if int64(cost.Width)*int64(cost.Height) > int64(l.MaxPixels) {
		return nil, cost, fmt.Errorf("%dx%d exceeds %d pixels: %w", cost.Width, cost.Height, l.MaxPixels, ErrTooLarge)
	}
	if l.MaxDecodedBytes > 0 && cost.Bytes > l.MaxDecodedBytes {
		return nil, cost, fmt.Errorf("%dx%d %s needs %d bytes to decode, limit %d: %w", cost.Width, cost.Height, cost.Format, cost.Bytes, l.MaxDecodedBytes, ErrTooLarge)
	}
	return data, cost, nil
}

// ToOpaqueRGBA converts img to an opaque RGBA image with bounds starting at
// (0,0), compositing straight (non-premultiplied) colour over white as
// described in DecodeLimits. dst is reused when it has the right size (pass
// nil to allocate). An input that is already an opaque *image.RGBA at the
// origin is returned as is.
func ToOpaqueRGBA(img image.Image, dst *image.RGBA) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if src, ok := img.(*image.RGBA); ok && b.Min == (image.Point{}) && opaque(src) {
		return src
	}
	if dst == nil || dst.Rect.Dx() != w || dst.Rect.Dy() != h || dst.Rect.Min != (image.Point{}) {
		dst = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	switch src := img.(type) {
	case *image.YCbCr, *image.Gray, *image.CMYK:
		// Opaque models: the standard conversion is exact (no alpha).
		draw.Draw(dst, dst.Rect, src, b.Min, draw.Src)
		return dst
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			d := dst.Pix[y*dst.Stride:]
			for x := 0; x < w; x++ {
				i := 4 * x
				a := uint32(s[i+3])
				d[i+0] = overWhite(uint32(s[i+0]), a)
				d[i+1] = overWhite(uint32(s[i+1]), a)
				d[i+2] = overWhite(uint32(s[i+2]), a)
				d[i+3] = 255
			}
		}
		return dst
	case *image.NRGBA64:
		// Typed loops for the 16-bit and paletted layouts: the generic loop
		// below boxes every pixel's colour (~16 bytes of garbage a pixel,
		// 640 MB for a 40-Mpixel image). Results are bit-identical to it.
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			d := dst.Pix[y*dst.Stride:]
			for x := 0; x < w; x++ {
				i := 8 * x
				r, g, bl, a := be16(s[i:]), be16(s[i+2:]), be16(s[i+4:]), be16(s[i+6:])
				// color.NRGBA64.RGBA premultiplies; NRGBAModel undoes it.
				setOverWhite16(d[4*x:], r*a/0xffff, g*a/0xffff, bl*a/0xffff, a)
			}
		}
		return dst
	case *image.RGBA64:
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			d := dst.Pix[y*dst.Stride:]
			for x := 0; x < w; x++ {
				i := 8 * x
				setOverWhite16(d[4*x:], be16(s[i:]), be16(s[i+2:]), be16(s[i+4:]), be16(s[i+6:]))
			}
		}
		return dst
	case *image.Gray16:
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			d := dst.Pix[y*dst.Stride:]
			for x := 0; x < w; x++ {
				v := s[2*x] // Gray16 → NRGBA keeps the high byte
				d[4*x], d[4*x+1], d[4*x+2], d[4*x+3] = v, v, v, 255
			}
		}
		return dst
	case *image.Paletted:
		var lut [256][4]uint8
		for i := range lut {
			var c color.Color = color.Black // out-of-palette index: as color.Palette.Convert's At does
			if i < len(src.Palette) {
				c = src.Palette[i]
			}
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			a := uint32(n.A)
			lut[i] = [4]uint8{overWhite(uint32(n.R), a), overWhite(uint32(n.G), a), overWhite(uint32(n.B), a), 255}
		}
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			d := dst.Pix[y*dst.Stride:]
			for x := 0; x < w; x++ {
				copy(d[4*x:4*x+4], lut[s[x]][:])
			}
		}
		return dst
	}
	for y := 0; y < h; y++ {
		d := dst.Pix[y*dst.Stride:]
		for x := 0; x < w; x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			a := uint32(c.A)
			i := 4 * x
			d[i+0] = overWhite(uint32(c.R), a)
			d[i+1] = overWhite(uint32(c.G), a)
			d[i+2] = overWhite(uint32(c.B), a)
			d[i+3] = 255
		}
	}
	return dst
}

// be16 reads a big-endian 16-bit sample.
func be16(b []byte) uint32 { return uint32(b[0])<<8 | uint32(b[1]) }

// setOverWhite16 writes premultiplied 16-bit colour (r, g, b, a) to d as
// color.NRGBAModel would convert it, composited over white by overWhite.
func setOverWhite16(d []byte, r, g, b, a uint32) {
	var n [3]uint32
	switch a {
	case 0xffff:
		n = [3]uint32{r >> 8, g >> 8, b >> 8}
	case 0:
	default:
		n = [3]uint32{(r * 0xffff / a) >> 8, (g * 0xffff / a) >> 8, (b * 0xffff / a) >> 8}
	}
	a8 := a >> 8
	d[0], d[1], d[2], d[3] = overWhite(n[0], a8), overWhite(n[1], a8), overWhite(n[2], a8), 255
}

// overWhite composites straight colour c with alpha a (both 0–255) over white.
func overWhite(c, a uint32) uint8 {
	return uint8((c*a + 255*(255-a) + 127) / 255)
}

// Orient returns img transformed from stored to upright according to the
// EXIF orientation o (1–8; other values return img unchanged). Orientations
// 5–8 swap width and height. A new image is allocated unless o is 1.
func Orient(img *image.RGBA, o Orientation) *image.RGBA {
	if o <= 1 || o > 8 {
		return img
	}
	b := img.Rect
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, ow, oh))
	for y := 0; y < oh; y++ {
		d := out.Pix[y*out.Stride:]
		for x := 0; x < ow; x++ {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-x, y
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sx, sy = x, h-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, h-1-x
			case 7:
				sx, sy = w-1-y, h-1-x
			case 8:
				sx, sy = w-1-y, x
			}
			s := img.Pix[img.PixOffset(b.Min.X+sx, b.Min.Y+sy):]
			copy(d[4*x:4*x+4], s[:4])
		}
	}
	return out
}

// DecisionForError maps an error from Decode to the wire decision
// (DECODE_ERROR or TOO_LARGE); other errors map to "".
func DecisionForError(err error) Decision {
	switch {
	case errors.Is(err, ErrTooLarge):
		return DecisionTooLarge
	case errors.Is(err, ErrDecode):
		return DecisionDecodeError
	}
	return ""
}
