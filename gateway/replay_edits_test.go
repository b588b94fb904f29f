package gateway

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/math/f64"

	"github.com/faceverify/faceverify/inference"
)

// imageEdit is one way an attacker may disguise a copy of a photo.
type imageEdit struct {
	name string
	fn   func(*image.RGBA) *image.RGBA
}

// replayEdits are the edits the reference-replay check must see through:
// resize 0.5× and 2×, a central 90 % crop, JPEG at quality 40, mirror,
// greyscale, the photo shown on a screen (dark bezel on a gradient
// background, dimmed with a glare ramp), rotation by ±7°, and all of them
// at once (mirrored, on a screen, shrunk to 75 %, JPEG 60).
var replayEdits = []imageEdit{
	{"resize_0.5", func(i *image.RGBA) *image.RGBA { return scaleImage(i, 0.5) }},
	{"resize_2", func(i *image.RGBA) *image.RGBA { return scaleImage(i, 2) }},
	{"crop_90", func(i *image.RGBA) *image.RGBA { return cropCentre(i, 0.9) }},
	{"jpeg_40", func(i *image.RGBA) *image.RGBA { return recompress(i, 40) }},
	{"mirror", mirrorImage},
	{"greyscale", greyscale},
	{"bezel", onScreen},
	{"rotate_+7", func(i *image.RGBA) *image.RGBA { return rotateImage(i, 7) }},
	{"rotate_-7", func(i *image.RGBA) *image.RGBA { return rotateImage(i, -7) }},
	{"combined", func(i *image.RGBA) *image.RGBA { return recompress(scaleImage(onScreen(mirrorImage(i)), 0.75), 60) }},
}

func scaleImage(src *image.RGBA, f float64) *image.RGBA {
	w, h := max(1, int(float64(src.Rect.Dx())*f)), max(1, int(float64(src.Rect.Dy())*f))
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.BiLinear.Scale(dst, dst.Rect, src, src.Rect, xdraw.Src, nil)
	return dst
}

func cropCentre(src *image.RGBA, f float64) *image.RGBA {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	cw, ch := int(float64(w)*f), int(float64(h)*f)
	r := image.Rect((w-cw)/2, (h-ch)/2, (w-cw)/2+cw, (h-ch)/2+ch)
	dst := image.NewRGBA(image.Rect(0, 0, cw, ch))
	xdraw.Copy(dst, image.Point{}, src, r, xdraw.Src, nil)
	return dst
}

func recompress(src *image.RGBA, q int) *image.RGBA {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, src, &jpeg.Options{Quality: q}); err != nil {
		panic(err) // encoding an in-memory RGBA cannot fail
	}
	img, err := jpeg.Decode(&b)
	if err != nil {
		panic(err)
	}
	return inference.ToOpaqueRGBA(img, nil)
}

func mirrorImage(src *image.RGBA) *image.RGBA {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			copy(dst.Pix[dst.PixOffset(w-1-x, y):][:4], src.Pix[src.PixOffset(src.Rect.Min.X+x, src.Rect.Min.Y+y):][:4])
		}
	}
	return dst
}

func greyscale(src *image.RGBA) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, src.Rect.Dx(), src.Rect.Dy()))
	for i := 0; i+3 < len(src.Pix) && i+3 < len(dst.Pix); i += 4 {
		y := uint8(math.Round(0.299*float64(src.Pix[i]) + 0.587*float64(src.Pix[i+1]) + 0.114*float64(src.Pix[i+2])))
		dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = y, y, y, 255
	}
	return dst
}

// onScreen draws src as shown on a phone held up to the camera: a gradient
// background, a dark bezel of 1/8 of the photo's longer side, and the photo
// dimmed to 90 % with a glare ramp of up to +20 grey levels.
func onScreen(src *image.RGBA) *image.RGBA {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	m := max(w, h) / 8
	W, H := w+4*m, h+4*m
	dst := image.NewRGBA(image.Rect(0, 0, W, H))
	for y := 0; y < H; y++ {
		row := dst.Pix[y*dst.Stride:]
		for x := 0; x < W; x++ {
			g := 60 + 120*float64(x+y)/float64(W+H)
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = uint8(g), uint8(g*0.9), uint8(g*0.8), 255
		}
	}
	xdraw.Draw(dst, image.Rect(m, m, W-m, H-m), image.NewUniform(color.RGBA{18, 18, 20, 255}), image.Point{}, xdraw.Src)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			o := src.Pix[src.PixOffset(src.Rect.Min.X+x, src.Rect.Min.Y+y):]
			d := dst.Pix[dst.PixOffset(2*m+x, 2*m+y):]
			glare := 20 * float64(x) / float64(w)
			for k := range 3 {
				d[k] = uint8(math.Min(255, float64(o[k])*0.9+glare))
			}
			d[3] = 255
		}
	}
	return dst
}

// rotateImage turns src by deg degrees about its centre onto a black canvas
// large enough to hold all of it.
func rotateImage(src *image.RGBA, deg float64) *image.RGBA {
	w, h := float64(src.Rect.Dx()), float64(src.Rect.Dy())
	a := deg * math.Pi / 180
	c, s := math.Cos(a), math.Sin(a)
	W, H := math.Abs(w*c)+math.Abs(h*s), math.Abs(w*s)+math.Abs(h*c)
	dst := image.NewRGBA(image.Rect(0, 0, int(W), int(H)))
	xdraw.Draw(dst, dst.Rect, image.NewUniform(color.Black), image.Point{}, xdraw.Src)
	m := f64.Aff3{c, -s, W/2 - (c*w/2 - s*h/2), s, c, H/2 - (s*w/2 + c*h/2)}
	xdraw.BiLinear.Transform(dst, m, src, src.Rect, xdraw.Over, nil)
	return dst
}
