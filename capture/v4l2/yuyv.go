package v4l2

import (
	"errors"
	"fmt"
	"image"
)

// Range is the quantization range of Y'CbCr samples.
type Range int

const (
	// RangeLimited is ITU-R BT.601 "studio" range: Y' in [16,235], Cb/Cr
	// in [16,240]. V4L2's default for YUV formats (V4L2_QUANTIZATION_DEFAULT
	// and V4L2_QUANTIZATION_LIM_RANGE).
	RangeLimited Range = iota
	// RangeFull is full range (JFIF): all three in [0,255]
	// (V4L2_QUANTIZATION_FULL_RANGE).
	RangeFull
)

// coeffs are BT.601 Y'CbCr→R'G'B' coefficients in 16.16 fixed point.
type coeffs struct {
	yOff, yk, rv, gu, gv, bu int32
}

// BT.601 matrix (ITU-R BT.601-7 §2.5.2 / ITU-T T.871 for full range),
// scaled by 65536 and rounded:
//
//	limited: R = 1.164383(Y-16) + 1.596027(V-128)
//	         G = 1.164383(Y-16) - 0.391762(U-128) - 0.812968(V-128)
//	         B = 1.164383(Y-16) + 2.017232(U-128)
//	full:    R = Y + 1.402(V-128), G = Y - 0.344136(U-128) - 0.714136(V-128),
//	         B = Y + 1.772(U-128)
var (
	limitedCoeffs = coeffs{yOff: 16, yk: 76309, rv: 104597, gu: 25675, gv: 53279, bu: 132201}
	fullCoeffs    = coeffs{yOff: 0, yk: 65536, rv: 91881, gu: 22554, gv: 46802, bu: 116130}
)

// ErrShortFrame is returned (wrapped) when a raw frame holds fewer bytes
// than its size and stride require (a truncated frame).
var ErrShortFrame = errors.New("frame shorter than its format")

// YUYVToRGBA converts a packed YUYV (Y0 U Y1 V, 4:2:2) frame of w×h pixels,
// stride bytes per row (≥ 2w), to opaque RGBA in dst, which must have
// bounds (0,0)–(w,h). It allocates nothing. w must be even. Errors:
// ErrShortFrame (wrapped) when len(src) < stride·(h−1)+2w; a plain error for
// a bad geometry.
func YUYVToRGBA(dst *image.RGBA, src []byte, w, h, stride int, rng Range) error {
	if w <= 0 || h <= 0 || w%2 != 0 || stride < 2*w {
		return fmt.Errorf("yuyv: bad geometry %dx%d stride %d", w, h, stride)
	}
	if dst == nil || dst.Rect != image.Rect(0, 0, w, h) {
		return fmt.Errorf("yuyv: destination is not %dx%d at the origin", w, h)
	}
	if need := stride*(h-1) + 2*w; len(src) < need {
		return fmt.Errorf("yuyv: %w: %d bytes, need %d", ErrShortFrame, len(src), need)
	}
	c := &limitedCoeffs
	if rng == RangeFull {
		c = &fullCoeffs
	}
	for y := 0; y < h; y++ {
		convertRow(dst.Pix[y*dst.Stride:y*dst.Stride+4*w], src[y*stride:y*stride+2*w], c)
	}
	return nil
}

// convertRow converts one row: s holds 2n bytes of YUYV, d 4n bytes of RGBA.
func convertRow(d, s []byte, c *coeffs) {
	for len(s) >= 4 && len(d) >= 8 {
		u := int32(s[1]) - 128
		v := int32(s[3]) - 128
		rd := c.rv*v + 1<<15
		gd := -c.gu*u - c.gv*v + 1<<15
		bd := c.bu*u + 1<<15

		y0 := (int32(s[0]) - c.yOff) * c.yk
		d[0] = clamp8((y0 + rd) >> 16)
		d[1] = clamp8((y0 + gd) >> 16)
		d[2] = clamp8((y0 + bd) >> 16)
		d[3] = 0xff

		y1 := (int32(s[2]) - c.yOff) * c.yk
		d[4] = clamp8((y1 + rd) >> 16)
		d[5] = clamp8((y1 + gd) >> 16)
		d[6] = clamp8((y1 + bd) >> 16)
		d[7] = 0xff

		s, d = s[4:], d[8:]
	}
}

func clamp8(v int32) uint8 {
	if uint32(v) <= 255 {
		return uint8(v)
	}
	if v < 0 {
		return 0
	}
	return 255
}
