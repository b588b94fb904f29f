package agent

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"math"

	"golang.org/x/image/draw"

	"github.com/faceverify/faceverify/inference"
)

// CropRect returns the square region uploaded for a face: a square of side
// scale × the face box's longer side, centred on the box, intersected with
// bounds. It returns an empty rectangle when the box lies outside bounds.
func CropRect(bounds image.Rectangle, box inference.Box, scale float64) image.Rectangle {
	side := math.Max(box.W, box.H) * scale
	cx, cy := box.X+box.W/2, box.Y+box.H/2
	r := image.Rect(
		int(math.Floor(cx-side/2)), int(math.Floor(cy-side/2)),
		int(math.Ceil(cx+side/2)), int(math.Ceil(cy+side/2)),
	)
	return r.Intersect(bounds)
}

// CropFace cuts CropRect out of img and scales it down so that its longer
// side is at most maxSide pixels (never up). The result is a new RGBA image
// with origin (0,0).
func CropFace(img image.Image, box inference.Box, scale float64, maxSide int) (image.Image, error) {
	r := CropRect(img.Bounds(), box, scale)
	if r.Empty() {
		return nil, errors.New("crop: face box outside the frame")
	}
	w, h := r.Dx(), r.Dy()
	if long := max(w, h); long > maxSide {
		f := float64(maxSide) / float64(long)
		w, h = max(1, int(math.Round(float64(w)*f))), max(1, int(math.Round(float64(h)*f)))
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
