package inference

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"math"

	"golang.org/x/image/draw"
)

// MaxCropFraction caps the side of the uploaded crop at this fraction of
// the frame's shorter side, so that the crop is never the whole frame,
// whatever session.crop_scale and the face size.
const MaxCropFraction = 0.9

// CropRect returns the region uploaded for a face: a square centred on the
// box, of side scale × the box's longer side, capped at MaxCropFraction ×
// the shorter side of bounds (rounded down to a pixel) and never smaller
// than the box's longer side unless the cap is, intersected with bounds
// (so near an edge it is the part of the square inside the frame). Both
// sides of the result are below the frame's, so it never equals bounds;
// it contains the box (as far as the box is inside bounds) whenever the
// box's longer side is within the cap, and is the box's centre part when
// the face is larger than that. A box whose centre lies outside bounds is
// cropped about the nearest point of its part inside. It returns an empty
// rectangle when the box lies outside bounds or bounds is too small for a
// crop.
func CropRect(bounds image.Rectangle, box Box, scale float64) image.Rectangle {
	long := math.Max(box.W, box.H)
	limit := math.Floor(MaxCropFraction * float64(min(bounds.Dx(), bounds.Dy())))
	side := math.Max(math.Max(long*scale, long), 1) // at least the box itself and a pixel
	if side > limit {
		side = limit
	}
	if !(side >= 1) { // also NaN
		return image.Rectangle{}
	}
	cx, cy := box.X+box.W/2, box.Y+box.H/2
	if math.IsNaN(cx+cy) || math.IsInf(cx+cy, 0) {
		return image.Rectangle{}
	}
	// The part of the box inside the frame; a box whose centre is outside
	// it is cropped about the nearest point of that part.
	x0, x1 := math.Max(box.X, float64(bounds.Min.X)), math.Min(box.X+box.W, float64(bounds.Max.X))
	y0, y1 := math.Max(box.Y, float64(bounds.Min.Y)), math.Min(box.Y+box.H, float64(bounds.Max.Y))
	visible := image.Rect(int(math.Floor(snap(x0))), int(math.Floor(snap(y0))), int(math.Ceil(snap(x1))), int(math.Ceil(snap(y1))))
	if !(x0 < x1 && y0 < y1) || visible.Empty() {
		return image.Rectangle{} // the box is outside the frame
	}
	cx, cy = math.Min(math.Max(cx, x0), x1), math.Min(math.Max(cy, y0), y1)
	n := int(limit)
	minX, maxX := cropSpan(cx, side, n, visible.Min.X, visible.Max.X)
	minY, maxY := cropSpan(cy, side, n, visible.Min.Y, visible.Max.Y)
	return image.Rect(minX, minY, maxX, maxY).Intersect(bounds)
}

// cropSpan is one axis of CropRect: the whole pixels of [c-side/2,
// c+side/2] rounded outwards, at most n of them. When rounding gives one
// or two too many, it keeps the n-pixel span nearest the centre that still
// holds the face's visible pixels [bl,bh) if they fit in n, else overlaps
// them.
func cropSpan(c, side float64, n, bl, bh int) (int, int) {
	lo, hi := int(math.Floor(snap(c-side/2))), int(math.Ceil(snap(c+side/2)))
	if hi-lo <= n {
		return lo, hi
	}
	a := min(max(int(math.Round(c-float64(n)/2)), lo), hi-n)
	if bh-bl <= n {
		a = min(max(a, lo, bh-n), hi-n, bl)
	} else {
		a = min(max(a, bl-n+1), bh-1) // overlap them by a pixel at least
	}
	return a, a + n
}

// snap puts v on a pixel boundary within 1e-6 px of it, so that float
// noise does not add or drop a pixel row.
func snap(v float64) float64 {
	if r := math.Round(v); math.Abs(v-r) < 1e-6 {
		return r
	}
	return v
}

// CropFace cuts CropRect out of img and scales it down so that its longer
// side is at most maxSide pixels (never up). The result is a new RGBA image
// with origin (0,0).
func CropFace(img image.Image, box Box, scale float64, maxSide int) (image.Image, error) {
	r := CropRect(img.Bounds(), box, scale)
	if r.Empty() {
		return nil, errors.New("crop: face box outside the frame")
	}
	w, h := r.Dx(), r.Dy()
	if long := max(w, h); long > maxSide {
		f := float64(maxSide) / float64(long)
		w, h = max(1, int(math.Round(float64(w)*f))), max(1, int(math.Round(float64(h)*f)))
	}
	img, err := Pixels(img) // decode a frame still encoded, once
	if err != nil {
		return nil, err
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	if w == r.Dx() && h == r.Dy() {
		draw.Draw(dst, dst.Bounds(), img, r.Min, draw.Src)
	} else {
		draw.CatmullRom.Scale(dst, dst.Bounds(), img, r, draw.Src, nil)
	}
	return dst, nil
}

// EncodeJPEG encodes img at quality 1–100.
func EncodeJPEG(img image.Image, quality int) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
