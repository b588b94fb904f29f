package inference

import (
	"image"
	"sync/atomic"
)

// JPEGDecoder decodes a whole JPEG file straight into RGBA pixels, in
// place of image/jpeg followed by the YCbCr → RGBA conversion. The
// libjpeg-turbo decoder (inference/turbojpeg, cgo, build tag turbojpeg)
// is one; a program installs it with SetJPEGDecoder.
type JPEGDecoder interface {
	// Name identifies the decoder in logs and reports, e.g.
	// "libjpeg-turbo 2.1.5".
	Name() string
	// DecodeJPEG decodes data, a complete JPEG file whose header
	// EstimateDecode accepted as dst's size (as stored, before EXIF
	// orientation), into dst: an opaque RGBA image at the origin with
	// Stride 4·width, every byte of whose Pix it writes (A = 255). It
	// returns an error for anything it does not decode cleanly (corrupt or
	// truncated data, a colour space it does not convert, another size);
	// dst's contents are then undefined and the caller decodes data with
	// image/jpeg instead, whose verdict stands. It must be safe for
	// concurrent use and must not keep data or dst after returning.
	DecodeJPEG(data []byte, dst *image.RGBA) error
}

// jpegDecoder holds the installed JPEGDecoder (nil: image/jpeg only).
var jpegDecoder atomic.Pointer[JPEGDecoder]

// SetJPEGDecoder installs d as the decoder of JPEG files for DecodeWith,
// DecodePooled and the functions built on them (Decode, DecodeLimits);
// nil restores image/jpeg. Programs call it once at start, before
// decoding; it is safe for concurrent use all the same. PNG files and the
// JPEG files d refuses are decoded as without it, and limits, errors and
// EXIF orientation are applied the same way.
func SetJPEGDecoder(d JPEGDecoder) {
	if d == nil {
		jpegDecoder.Store(nil)
		return
	}
	jpegDecoder.Store(&d)
}

// JPEGDecoderName names the decoder JPEG files go to: the installed
// JPEGDecoder's Name, or "image/jpeg".
func JPEGDecoderName() string {
	if d := jpegDecoder.Load(); d != nil {
		return (*d).Name()
	}
	return "image/jpeg"
}

// decodeJPEGFast decodes data with the installed JPEGDecoder into a w×h
// image from alloc; ok is false when none is installed or it refused data,
// after giving the buffer back (free), so that the caller falls back to
// image/jpeg.
func decodeJPEGFast(data []byte, w, h int, alloc func(w, h int) (*image.RGBA, func())) (img *image.RGBA, free func(), ok bool) {
	d := jpegDecoder.Load()
	if d == nil {
		return nil, nil, false
	}
	dst, free := alloc(w, h)
	if err := (*d).DecodeJPEG(data, dst); err != nil {
		free()
		return nil, nil, false
	}
	return dst, free, true
}

// newRGBA allocates a w×h RGBA image at the origin; its free does nothing.
func newRGBA(w, h int) (*image.RGBA, func()) {
	return image.NewRGBA(image.Rect(0, 0, w, h)), func() {}
}
