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

// Decode reads a JPEG or PNG image of at most DefaultMaxBytes bytes and
// maxPixels pixels and returns it upright; the dynamic type is always an
// opaque *image.RGBA whose bounds start at (0,0). It is
// DecodeLimits(r, maxPixels, DefaultMaxBytes).
func Decode(r io.Reader, maxPixels int) (image.Image, error) {
	return DecodeLimits(r, maxPixels, DefaultMaxBytes)
}

// DecodeLimits reads at most maxBytes bytes from r and decodes them:
//
//   - The header is parsed first (image.DecodeConfig); width×height above
//     maxPixels returns ErrTooLarge before any pixel is decoded, as does an
//     input longer than maxBytes.
//   - Only JPEG and PNG are accepted; anything else, a corrupt or truncated
//     file, or zero dimensions returns an error wrapping ErrDecode.
//   - The EXIF Orientation (JPEG APP1 or PNG eXIf; all 8 values, invalid ones
//     treated as 1) is applied, so the result is upright.
//   - Greyscale becomes R=G=B. Transparency is resolved without
//     premultiplying: each pixel's stored (straight) colour is composited
//     over opaque white, out = c·α + 255·(1−α), so fully opaque pixels keep
//     their exact values, transparent areas become white (as most viewers
//     show them) and semi-transparent edges are not darkened.
//
// The result is always fully opaque (A=255), so RGBA and NRGBA coincide.
func DecodeLimits(r io.Reader, maxPixels int, maxBytes int64) (image.Image, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("image longer than %d bytes: %w", maxBytes, ErrTooLarge)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if format != "jpeg" && format != "png" {
		return nil, fmt.Errorf("%w: unsupported format %q (JPEG or PNG only)", ErrDecode, format)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: empty image %dx%d", ErrDecode, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return nil, fmt.Errorf("%dx%d exceeds %d pixels: %w", cfg.Width, cfg.Height, maxPixels, ErrTooLarge)
	}
	var img image.Image
	if format == "jpeg" {
		img, err = jpeg.Decode(bytes.NewReader(data))
	} else {
		img, err = png.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, fmt.Errorf("%w: decoded size %v differs from header", ErrDecode, b.Size())
	}
	rgba := ToOpaqueRGBA(img, nil)
	return Orient(rgba, ExifOrientation(data)), nil
}

// ToOpaqueRGBA converts img to an opaque RGBA image with bounds starting at
// (0,0), compositing straight (non-premultiplied) colour over white as
// described in DecodeLimits. dst is reused when it has the right size (pass
// nil to allocate). An input that is already an opaque *image.RGBA at the
// origin is returned as is.
func ToOpaqueRGBA(img image.Image, dst *image.RGBA) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if src, ok := img.(*image.RGBA); ok && b.Min == (image.Point{}) && src.Opaque() {
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
