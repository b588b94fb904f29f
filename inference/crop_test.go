package inference

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"testing"
)

// checkCrop asserts the rules of CropRect for one input: inside the frame,
// never the whole frame, each side at most MaxCropFraction × the frame's
// shorter side, and containing the face box (the part inside the frame)
// whenever the box's longer side is within that cap.
func checkCrop(t *testing.T, frame image.Rectangle, box Box, scale float64) image.Rectangle {
	t.Helper()
	r := CropRect(frame, box, scale)
	limit := int(math.Floor(MaxCropFraction * float64(min(frame.Dx(), frame.Dy()))))
	// The box in whole pixels, less float noise at its edges.
	const eps = 1e-6
	boxPx := image.Rect(int(math.Floor(box.X+eps)), int(math.Floor(box.Y+eps)),
		int(math.Ceil(box.X+box.W-eps)), int(math.Ceil(box.Y+box.H-eps))).Intersect(frame)
	if boxPx.Empty() { // outside the frame, or overlapping it by float noise only
		if !r.Empty() {
			t.Errorf("box outside the frame: crop %v, want empty", r)
		}
		return r
	}
	if r.Empty() {
		t.Fatalf("crop of %v in %v is empty", box, frame)
	}
	if r == frame {
		t.Fatalf("crop of %v (scale %v) is the whole frame %v", box, scale, frame)
	}
	if !r.In(frame) {
		t.Errorf("crop %v leaves the frame %v", r, frame)
	}
	if r.Dx() > limit || r.Dy() > limit {
		t.Errorf("crop %v is %d×%d, over the cap %d (0.9 × shorter side of %v)", r, r.Dx(), r.Dy(), limit, frame)
	}
	if math.Max(box.W, box.H) <= float64(limit) && boxPx.Dx() <= limit && boxPx.Dy() <= limit && !boxPx.In(r) {
		t.Errorf("crop %v does not contain the face box %v", r, boxPx)
	}
	return r
}

func TestCropRect(t *testing.T) {
	vga := image.Rect(0, 0, 640, 480)
	cases := []struct {
		name  string
		frame image.Rectangle
		box   Box
		scale float64
		want  image.Rectangle
	}{
		{"small face, uncapped", vga, Box{X: 270, Y: 190, W: 100, H: 100}, 3, image.Rect(170, 90, 470, 390)},
		{"214 px face at scale 3 is capped, not the whole frame", vga, Box{X: 213, Y: 133, W: 214, H: 214}, 3, image.Rect(104, 24, 536, 456)},
		{"face as tall as the frame", vga, Box{X: 80, Y: 0, W: 480, H: 480}, 3, image.Rect(104, 24, 536, 456)},
		{"face wider than the frame", vga, Box{X: -100, Y: -100, W: 840, H: 680}, 1, image.Rect(104, 24, 536, 456)},
		{"capped face near the left edge keeps the part inside", vga, Box{X: 0, Y: 140, W: 200, H: 200}, 3, image.Rect(0, 24, 316, 456)},
		{"scale 1 keeps exactly the box", vga, Box{X: 100, Y: 100, W: 150, H: 120}, 1, image.Rect(100, 85, 250, 235)},
		{"offset frame", image.Rect(100, 50, 420, 290), Box{X: 160, Y: 70, W: 200, H: 200}, 3, image.Rect(152, 62, 368, 278)},
		{"face outside the frame", vga, Box{X: 700, Y: 10, W: 50, H: 50}, 3, image.Rectangle{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := checkCrop(t, tc.frame, tc.box, tc.scale)
			if got != tc.want {
				t.Errorf("CropRect = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCropNeverTheWholeFrame: large faces in small frames, at every
// allowed crop_scale and position, never give the whole frame.
func TestCropNeverTheWholeFrame(t *testing.T) {
	frames := []image.Rectangle{
		image.Rect(0, 0, 640, 480), image.Rect(0, 0, 320, 240), image.Rect(0, 0, 480, 480),
		image.Rect(0, 0, 1280, 720), image.Rect(0, 0, 480, 640), image.Rect(0, 0, 160, 120),
	}
	for _, frame := range frames {
		short := float64(min(frame.Dx(), frame.Dy()))
		t.Run(fmt.Sprintf("%dx%d", frame.Dx(), frame.Dy()), func(t *testing.T) {
			for _, scale := range []float64{1, 1.5, 2, 3, 5, 10} {
				for _, frac := range []float64{0.2, 0.34, 0.5, 0.75, 0.9, 1, 1.2, 2} {
					side := frac * short
					for _, pos := range [][2]float64{{0.5, 0.5}, {0, 0}, {1, 1}, {0.1, 0.9}, {0.5, 0}} {
						x := pos[0]*float64(frame.Dx()) - side/2
						y := pos[1]*float64(frame.Dy()) - side/2
						checkCrop(t, frame, Box{X: x, Y: y, W: side, H: side * 1.1}, scale)
					}
				}
			}
		})
	}
}

// TestCropFaceLargeFace: the uploaded image of a face filling a VGA frame
// is smaller than the frame, and its pixels come from the frame's centre.
func TestCropFaceLargeFace(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			img.Set(x, y, color.RGBA{uint8(x / 3), uint8(y / 2), 0, 255})
		}
	}
	out, err := CropFace(img, Box{X: 170, Y: 90, W: 300, H: 300}, 3, 640)
	if err != nil {
		t.Fatal(err)
	}
	if b := out.Bounds(); b.Dx() != 432 || b.Dy() != 432 {
		t.Fatalf("crop is %v, want 432×432 (0.9 × 480)", b)
	}
	if got, want := out.At(0, 0), img.At(104, 24); got != want {
		t.Errorf("top-left pixel %v, want the frame's (104,24) %v", got, want)
	}
}

// FuzzCropRect: for any frame, box and crop scale in range, the crop
// follows the rules of checkCrop.
func FuzzCropRect(f *testing.F) {
	f.Add(640, 480, 213.0, 133.0, 214.0, 214.0, 3.0)
	f.Add(320, 240, -50.0, -20.0, 400.0, 300.0, 10.0)
	f.Add(10, 10, 0.0, 0.0, 10.0, 10.0, 1.0)
	f.Fuzz(func(t *testing.T, w, h int, x, y, bw, bh, scale float64) {
		if w < 2 || h < 2 || w > 8192 || h > 8192 || !(scale >= 1 && scale <= 10) {
			return
		}
		for _, v := range []float64{x, y, bw, bh} {
			if !(math.Abs(v) < 1e5) {
				return
			}
		}
		if bw <= 0 || bh <= 0 {
			return
		}
		frame := image.Rect(0, 0, w, h)
		checkCrop(t, frame, Box{X: x, Y: y, W: bw, H: bh}, scale)
	})
}
