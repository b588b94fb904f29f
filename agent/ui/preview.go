package ui

import (
	"bytes"
	"embed"
	"image"
	"image/jpeg"
	"io/fs"

	"golang.org/x/image/draw"
)

//go:embed assets
var assets embed.FS

// Assets are the screens' files (index.html, app.js, app.css, fonts/),
// served under /ui/.
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree always has assets/
	}
	return sub
}

// Preview limits: frames are downscaled to at most PreviewMaxWidth px wide
// and encoded at PreviewQuality (JPEG 1–100).
const (
	PreviewMaxWidth = 640
	PreviewQuality  = 70
)

// EncodePreview returns a JPEG of img at most maxWidth px wide (aspect
// kept; nearest-neighbour-free bilinear scaling), quality q. Frames whose
// original JPEG (jpegBytes) is already narrow enough are passed through
// unchanged. The preview is never written anywhere but the loopback
// response; mirroring is done by the page (CSS scaleX(-1)).
func EncodePreview(img image.Image, jpegBytes []byte, maxWidth, q int) ([]byte, error) {
	b := img.Bounds()
	if jpegBytes != nil && b.Dx() <= maxWidth {
		return jpegBytes, nil
	}
	src := img
	if b.Dx() > maxWidth {
		h := b.Dy() * maxWidth / b.Dx()
		dst := image.NewRGBA(image.Rect(0, 0, maxWidth, max(h, 1)))
		draw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
		src = dst
	}
	var buf bytes.Buffer
	buf.Grow(64 << 10)
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: q}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
