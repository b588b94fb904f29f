package inference

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math/bits"
	"sync"
)

// Pixel buffers of decoded images are recycled by size class: a server that
// decodes one reference (≈ 4 MiB of RGBA for 910×1137) and one selfie per
// verification otherwise allocates, zeroes and collects those megabytes on
// every request. Classes step by an eighth of the power of two below the
// size, so a buffer wastes at most 1/8 of the size it holds.
var rgbaPools sync.Map // class size (bytes) → *sync.Pool of *[]byte

// pixClass is the capacity, in bytes, of the pooled buffers that hold n bytes.
func pixClass(n int) int {
	if n <= 64<<10 {
		return n // small images: not pooled
	}
	step := 1 << (bits.Len(uint(n-1)) - 4) // an eighth of the power of two below n
	return (n + step - 1) / step * step
}

func pixPool(class int) *sync.Pool {
	if p, ok := rgbaPools.Load(class); ok {
		return p.(*sync.Pool)
	}
	p, _ := rgbaPools.LoadOrStore(class, &sync.Pool{})
	return p.(*sync.Pool)
}

// getRGBA returns a w×h RGBA image at the origin whose pixels are taken
// from the pool (not zeroed: the caller overwrites every byte) and the
// function that zeroes them and gives them back.
func getRGBA(w, h int) (*image.RGBA, func()) {
	n := 4 * w * h
	class := pixClass(n)
	if class == n && n <= 64<<10 {
		return image.NewRGBA(image.Rect(0, 0, w, h)), func() {}
	}
	pool := pixPool(class)
	var buf *[]byte
	if v := pool.Get(); v != nil {
		buf = v.(*[]byte)
	} else {
		b := make([]byte, class)
		buf = &b
	}
	img := &image.RGBA{Pix: (*buf)[:n:n], Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
	var once sync.Once
	return img, func() {
		once.Do(func() {
			clear((*buf)[:n]) // decoded faces do not outlive their use
			pool.Put(buf)
		})
	}
}

// DecodePooled is DecodeWith whose result's pixels come from a pool of
// image-sized buffers: the result is the same opaque, upright *image.RGBA
// (bit for bit), and release zeroes its pixels and returns them to the
// pool. Call release exactly once (further calls do nothing) when neither
// the image nor anything sharing its Pix is used any more; until then the
// image is the caller's alone. Errors are DecodeWith's; on error release is
// a no-op and need not be called.
func DecodePooled(r io.Reader, l Limits) (img image.Image, release func(), err error) {
	release = func() {}
	data, cost, err := readLimited(r, l)
	if err != nil {
		return nil, release, err
	}
	if cost.Format == "jpeg" {
		if fast, put, ok := decodeJPEGFast(data, cost.Width, cost.Height, getRGBA); ok {
			return orientPooled(fast, put, data)
		}
	}
	var raw image.Image
	if cost.Format == "jpeg" {
		raw, err = jpeg.Decode(bytes.NewReader(data))
	} else {
		raw, err = png.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil, release, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	b := raw.Bounds()
	if b.Dx() != cost.Width || b.Dy() != cost.Height {
		return nil, release, fmt.Errorf("%w: decoded size %v differs from header", ErrDecode, b.Size())
	}
	var rgba *image.RGBA
	if src, ok := raw.(*image.RGBA); ok && b.Min == (image.Point{}) && opaque(src) {
		rgba = src // ToOpaqueRGBA would return it as is
	} else {
		dst, put := getRGBA(b.Dx(), b.Dy())
		rgba = ToOpaqueRGBA(raw, dst)
		release = put
	}
	return orientPooled(rgba, release, data)
}

// orientPooled applies data's EXIF orientation to rgba, whose pixels
// release gives back: when Orient copies them, they are given back at once.
func orientPooled(rgba *image.RGBA, release func(), data []byte) (image.Image, func(), error) {
	up := Orient(rgba, ExifOrientation(data))
	if up != rgba { // Orient copied: the pooled buffer is free again
		release()
		release = func() {}
	}
	return up, release, nil
}
