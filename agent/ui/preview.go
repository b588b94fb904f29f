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

// EncodePreview returns a JPEG of img at most maxWidth px wide, quality q,
// as PreviewEncoder.Encode does, with fresh buffers.
func EncodePreview(img image.Image, jpegBytes []byte, maxWidth, q int) ([]byte, error) {
	e := PreviewEncoder{MaxWidth: maxWidth, Quality: q}
	return e.Encode(img, jpegBytes)
}

// PreviewEncoder turns camera frames into preview JPEGs, reusing its
// buffers from one frame to the next. The zero value uses PreviewMaxWidth
// and PreviewQuality. It is not safe for concurrent use.
//
// Cost (BenchmarkPreview640, BenchmarkPreview1280): an RGBA frame
// ≤ MaxWidth goes to image/jpeg as is (its RGBA path is as fast as any
// Y'CbCr hand-over, measured); a wider one is shrunk by an integer box
// filter (2×2 for 1280 px, 3×3 for 1920 px) straight into reused Y'CbCr
// 4:2:0 planes (JFIF full-range BT.601, image/color.RGBToYCbCr's integer
// coefficients), with no intermediate RGBA image. The JPEG is written into
// a reused buffer without bufio; the only per-frame allocation of size is
// the returned copy.
type PreviewEncoder struct {
	MaxWidth int // px; 0 means PreviewMaxWidth
	Quality  int // 1–100; 0 means PreviewQuality

	ycc        image.YCbCr
	accR, accG []int32 // chroma sums of one pair of output rows
	accB, accN []int32
	rgba       *image.RGBA // only for sources that are neither RGBA nor narrow JPEG
	out        flushBuffer
}

// flushBuffer lets image/jpeg write straight into a bytes.Buffer (it
// wraps writers without Flush in a fresh bufio.Writer).
type flushBuffer struct{ bytes.Buffer }

func (flushBuffer) Flush() error { return nil }

// Encode returns a JPEG of img at most MaxWidth px wide (aspect kept; an
// integer box downscale by ceil(width/MaxWidth)). A frame whose original
// JPEG (jpegBytes) is already narrow enough is passed through unchanged.
// The returned slice is the caller's (not reused). The preview is never
// written anywhere but the loopback response; mirroring is done by the
// page (CSS scaleX(-1)). Errors are image/jpeg's.
func (e *PreviewEncoder) Encode(img image.Image, jpegBytes []byte) ([]byte, error) {
	maxW, q := e.MaxWidth, e.Quality
	if maxW <= 0 {
		maxW = PreviewMaxWidth
	}
	if q <= 0 {
		q = PreviewQuality
	}
	b := img.Bounds()
	if jpegBytes != nil && b.Dx() <= maxW {
		return jpegBytes, nil
	}
	if u, ok := img.(interface{ Decode() (image.Image, error) }); ok {
		// A frame still encoded (capture.LazyImage): decode it once.
		px, err := u.Decode()
		if err != nil {
			return nil, err
		}
		img = px
	}
	k := (b.Dx() + maxW - 1) / maxW // box size
	rgba, ok := img.(*image.RGBA)
	if !ok {
		// Decoded JPEGs wider than maxWidth and other models: one generic
		// conversion to RGBA (rare: YUYV and MJPEG cameras give RGBA).
		if e.rgba == nil || e.rgba.Rect != b {
			e.rgba = image.NewRGBA(b)
		}
		draw.Draw(e.rgba, b, img, b.Min, draw.Src)
		rgba = e.rgba
	}
	var m image.Image = rgba
	if k > 1 {
		e.toYCbCr(rgba, k)
		m = &e.ycc
	}
	e.out.Reset()
	if err := jpeg.Encode(&e.out, m, &jpeg.Options{Quality: q}); err != nil {
		return nil, err
	}
	return bytes.Clone(e.out.Bytes()), nil
}

// toYCbCr fills e.ycc (4:2:0) from src shrunk k× by averaging k×k blocks.
func (e *PreviewEncoder) toYCbCr(src *image.RGBA, k int) {
	b := src.Bounds()
	w, h := max(b.Dx()/k, 1), max(b.Dy()/k, 1)
	cw, ch := (w+1)/2, (h+1)/2
	if e.ycc.Rect.Dx() != w || e.ycc.Rect.Dy() != h {
		e.ycc = image.YCbCr{
			Y: make([]byte, w*h), Cb: make([]byte, cw*ch), Cr: make([]byte, cw*ch),
			YStride: w, CStride: cw, SubsampleRatio: image.YCbCrSubsampleRatio420,
			Rect: image.Rect(0, 0, w, h),
		}
		e.accR, e.accG, e.accB, e.accN = make([]int32, cw), make([]int32, cw), make([]int32, cw), make([]int32, cw)
	}
	kk := int32(k * k)
	for oy := 0; oy < h; oy++ {
		yrow := e.ycc.Y[oy*w : oy*w+w]
		sy := b.Min.Y + oy*k
		for ox := range w {
			sx := b.Min.X + ox*k
			var r, g, bl int32
			if k == 1 {
				p := src.Pix[src.PixOffset(sx, sy):]
				r, g, bl = int32(p[0]), int32(p[1]), int32(p[2])
			} else {
				for j := range k {
					p := src.Pix[src.PixOffset(sx, sy+j):]
					for i := range k {
						r += int32(p[4*i])
						g += int32(p[4*i+1])
						bl += int32(p[4*i+2])
					}
				}
				r, g, bl = (r+kk/2)/kk, (g+kk/2)/kk, (bl+kk/2)/kk
			}
			yrow[ox] = uint8((19595*r + 38470*g + 7471*bl + 1<<15) >> 16)
			c := ox >> 1
			e.accR[c] += r
			e.accG[c] += g
			e.accB[c] += bl
			e.accN[c]++
		}
		if oy&1 == 1 || oy == h-1 {
			co := (oy >> 1) * cw
			for c := range cw {
				n := e.accN[c]
				r, g, bl := (e.accR[c]+n/2)/n, (e.accG[c]+n/2)/n, (e.accB[c]+n/2)/n
				e.ycc.Cb[co+c] = chroma(-11056*r - 21712*g + 32768*bl + 257<<15)
				e.ycc.Cr[co+c] = chroma(32768*r - 27440*g - 5328*bl + 257<<15)
				e.accR[c], e.accG[c], e.accB[c], e.accN[c] = 0, 0, 0, 0
			}
		}
	}
}

// chroma clamps a 16.16 fixed-point Cb or Cr to [0,255] as
// image/color.RGBToYCbCr does.
func chroma(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}
