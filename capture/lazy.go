package capture

import (
	"image"
	"image/color"
	"sync"
	"sync/atomic"
)

// LazyImage is a frame's image still in its encoded form (the JPEG of an
// MJPEG camera or a replayed file), decoded the first time its pixels are
// needed and then kept. Sources hand frames over this way so that a frame
// nobody analyses costs no decoding: at 25–30 fps a kiosk analyses one
// frame in 2–6, and the preview passes narrow frames' JPEG bytes through
// (Frame.JPEG) without touching the pixels.
//
// Bounds is known without decoding when the source read it from the
// header; otherwise it decodes. Consumers that need many pixels call
// Decode (or capture.Pixels) once and work on the result: At and
// ColorModel decode too but box a colour per call, as any image.Image.
// Safe for concurrent use: the first caller decodes, the others wait.
type LazyImage struct {
	bounds image.Rectangle
	known  bool
	decode func() (image.Image, error)

	once sync.Once
	done atomic.Bool
	img  image.Image
	err  error
}

// NewLazyImage returns an image decoded by decode on first use. bounds is
// the decoded image's bounds when known from the header (what decode will
// return), or the empty rectangle when only decoding tells.
func NewLazyImage(bounds image.Rectangle, decode func() (image.Image, error)) *LazyImage {
	return &LazyImage{bounds: bounds, known: !bounds.Empty(), decode: decode}
}

// Decode returns the decoded image (the same one on every call) or the
// decoder's error.
func (l *LazyImage) Decode() (image.Image, error) {
	l.once.Do(func() {
		l.img, l.err = l.decode()
		if l.err == nil && l.img == nil {
			l.err = errEmptyDecode
		}
		l.decode = nil
		l.done.Store(true)
	})
	return l.img, l.err
}

// Decoded reports whether Decode has run (successfully or not).
func (l *LazyImage) Decoded() bool { return l.done.Load() }

var errEmptyDecode = emptyDecodeError{}

type emptyDecodeError struct{}

func (emptyDecodeError) Error() string { return "decoder returned no image" }

// Bounds returns the image's bounds; from the header when the source knew
// them, else after decoding (empty if decoding failed).
func (l *LazyImage) Bounds() image.Rectangle {
	if l.known {
		return l.bounds
	}
	img, err := l.Decode()
	if err != nil {
		return image.Rectangle{}
	}
	return img.Bounds()
}

// ColorModel is the decoded image's, or color.RGBAModel when it cannot be
// decoded.
func (l *LazyImage) ColorModel() color.Model {
	img, err := l.Decode()
	if err != nil {
		return color.RGBAModel
	}
	return img.ColorModel()
}

// At decodes (once) and returns the decoded image's pixel; transparent
// black when it cannot be decoded.
func (l *LazyImage) At(x, y int) color.Color {
	img, err := l.Decode()
	if err != nil {
		return color.RGBA{}
	}
	return img.At(x, y)
}

// Pixels returns the decoded pixels of img: the result of Decode for a
// *LazyImage, img itself for any other image.
func Pixels(img image.Image) (image.Image, error) {
	if l, ok := img.(*LazyImage); ok {
		return l.Decode()
	}
	return img, nil
}
