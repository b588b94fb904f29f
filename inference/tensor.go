package inference

import (
	"image"
	"math"
)

// ChannelOrder names the order of the colour planes of a model's NCHW input.
type ChannelOrder string

const (
	// RGB: plane 0 red, 1 green, 2 blue.
	RGB ChannelOrder = "RGB"
	// BGR: plane 0 blue, 1 green, 2 red (OpenCV's native order; models
	// trained on cv2.imread images expect it).
	BGR ChannelOrder = "BGR"
	// Gray: one plane, luma Y = 0.299R + 0.587G + 0.114B (ITU-R BT.601, as
	// OpenCV's COLOR_BGR2GRAY).
	Gray ChannelOrder = "GRAY"
)

// Valid reports whether o is one of RGB, BGR, Gray.
func (o ChannelOrder) Valid() bool { return o == RGB || o == BGR || o == Gray }

// Channels is 1 for Gray and 3 otherwise.
func (o ChannelOrder) Channels() int {
	if o == Gray {
		return 1
	}
	return 3
}

// TensorLayout describes a float32 NCHW model input with N=1: Order.Channels()
// planes of Height rows of Width values. A pixel value p in 0–255 becomes
// (p − Mean) × Scale.
type TensorLayout struct {
	Width, Height int
	Order         ChannelOrder
	Mean, Scale   float32
	// Antialias averages a grid of bilinear samples over each output
	// pixel's footprint when shrinking by more than 1.5× (like OpenCV's
	// INTER_AREA) instead of one bilinear sample (INTER_LINEAR).
	Antialias bool
}

// Len is the number of float32 values of the tensor (C×H×W).
func (l TensorLayout) Len() int { return l.Order.Channels() * l.Width * l.Height }

// Shape is the tensor shape [1, C, H, W].
func (l TensorLayout) Shape() []int64 {
	return []int64{1, int64(l.Order.Channels()), int64(l.Height), int64(l.Width)}
}

// ResizeInto resamples the region crop of src (image pixels; it may extend
// past the image, samples are clamped to the border pixels) to l.Width×l.Height
// with bilinear interpolation using pixel-centre alignment (as OpenCV's
// INTER_LINEAR), and writes the normalised planes into dst, which must have
// exactly l.Len() elements; a dst of another length, an invalid layout, an
// empty source or crop, or a crop with a NaN or infinite coordinate returns
// an error and writes nothing. Weights are fixed-point (see Resizer for the
// precision and the exact 2× case). It does not allocate in steady state;
// a caller resizing the same geometry repeatedly keeps a Resizer instead.
func ResizeInto(dst []float32, src *image.RGBA, crop Box, l TensorLayout) error {
	r := resizerPool.Get().(*Resizer)
	err := r.Resize(dst, src, crop, l)
	resizerPool.Put(r)
	return err
}

// maxTaps bounds the samples per axis of the antialiasing filter.
const maxTaps = 8

// resizeArea is ResizeInto with a k×k grid of bilinear samples per output
// pixel, k = ceil(step) ≤ maxTaps.
func resizeArea(dst []float32, src *image.RGBA, crop Box, l TensorLayout, sx, sy float64) {
	b := src.Rect
	maxX, maxY := b.Dx()-1, b.Dy()-1
	kx := min(maxTaps, int(math.Ceil(sx)))
	ky := min(maxTaps, int(math.Ceil(sy)))
	plane := l.Width * l.Height
	inv := 1 / float32(kx*ky)
	for y := 0; y < l.Height; y++ {
		for x := 0; x < l.Width; x++ {
			var c [3]float32
			for j := 0; j < ky; j++ {
				fy := crop.Y + float64(y)*sy + (float64(j)+0.5)*sy/float64(ky) - 0.5
				y0, wy := splitCoord(fy, maxY)
				y1 := min(y0+1, maxY)
				r0 := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y0):]
				r1 := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y1):]
				for i := 0; i < kx; i++ {
					fx := crop.X + float64(x)*sx + (float64(i)+0.5)*sx/float64(kx) - 0.5
					x0, wx := splitCoord(fx, maxX)
					x1 := min(x0+1, maxX)
					for k := 0; k < 3; k++ {
						top := float32(r0[4*x0+k])*(1-wx) + float32(r0[4*x1+k])*wx
						bot := float32(r1[4*x0+k])*(1-wx) + float32(r1[4*x1+k])*wx
						c[k] += top*(1-wy) + bot*wy
					}
				}
			}
			c[0], c[1], c[2] = c[0]*inv, c[1]*inv, c[2]*inv
			store(dst, y*l.Width+x, plane, c, l)
		}
	}
}

// store writes the normalised colour c of output pixel i.
func store(dst []float32, i, plane int, c [3]float32, l TensorLayout) {
	switch l.Order {
	case RGB:
		dst[i] = (c[0] - l.Mean) * l.Scale
		dst[plane+i] = (c[1] - l.Mean) * l.Scale
		dst[2*plane+i] = (c[2] - l.Mean) * l.Scale
	case BGR:
		dst[i] = (c[2] - l.Mean) * l.Scale
		dst[plane+i] = (c[1] - l.Mean) * l.Scale
		dst[2*plane+i] = (c[0] - l.Mean) * l.Scale
	case Gray:
		dst[i] = (0.299*c[0] + 0.587*c[1] + 0.114*c[2] - l.Mean) * l.Scale
	}
}

// splitCoord clamps a sample coordinate to [0,max] and splits it into the
// integer index and the fractional weight of the next index.
func splitCoord(f float64, max int) (int, float32) {
	if f <= 0 {
		return 0, 0
	}
	if f >= float64(max) {
		return max, 0
	}
	i := int(math.Floor(f))
	return i, float32(f - float64(i))
}
