package onnx

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"path/filepath"
	"testing"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/faceverify/faceverify/inference"
)

// idPortrait cuts a head-and-shoulders portrait (3:4) around the face of a
// public-domain identity photo of ../shared/testdata.
func idPortrait(t *testing.T, e *Engine, td string) *image.RGBA {
	t.Helper()
	src, err := decodeFile(t, filepath.Join(td, "identity", "person_a_01.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	an, err := e.Analyze(context.Background(), src, inference.Options{})
	if err != nil || an.Subject < 0 {
		t.Fatalf("portrait source: %v %v", an.Decision, err)
	}
	b := an.Faces[an.Subject].Box
	c := b.Center()
	w := 2.0 * b.W
	h := w * 4 / 3
	r := image.Rect(int(c.X-w/2), int(c.Y-h*0.45), int(c.X+w/2), int(c.Y+h*0.55)).Intersect(src.Rect)
	out := image.NewRGBA(image.Rect(0, 0, 300, 400))
	draw.CatmullRom.Scale(out, out.Rect, src, r, draw.Src, nil)
	return out
}

// idCard draws an ID-1 shaped card (85.6 × 54 mm) w pixels wide: a tinted
// background with a pattern, a header band, the portrait at the left and
// blocks of text at the right.
func idCard(portrait *image.RGBA, w int) *image.RGBA {
	h := w * 54 / 86
	// Lay the card out at 640 px and scale it, so text stays proportional.
	const bw, bh = 640, 402
	c := image.NewRGBA(image.Rect(0, 0, bw, bh))
	for y := 0; y < bh; y++ {
		for x := 0; x < bw; x++ {
			wave := 12 * math.Sin(float64(x)/9+float64(y)/23)
			c.SetRGBA(x, y, color.RGBA{uint8(205 + wave), uint8(225 + wave/2), 240, 255})
		}
	}
	draw.Draw(c, image.Rect(0, 0, bw, 56), image.NewUniform(color.RGBA{20, 60, 140, 255}), image.Point{}, draw.Src)
	pr := image.Rect(28, 80, 28+168, 80+224)
	draw.CatmullRom.Scale(c, pr, portrait, portrait.Rect, draw.Src, nil)
	d := &font.Drawer{Dst: c, Src: image.NewUniform(color.White), Face: basicfont.Face7x13}
	d.Dot = fixed.P(24, 36)
	d.DrawString("REPUBLIK  -  KARTU TANDA PENDUDUK  -  IDENTITY CARD")
	d.Src = image.NewUniform(color.RGBA{20, 20, 40, 255})
	lines := []string{"NIK    3171 0123 4567 0001", "Nama   PERSON A", "Tempat/Tgl Lahir  JAKARTA, 04-08-1961",
		"Jenis Kelamin  LAKI-LAKI", "Alamat JL. CONTOH NO. 1", "RT/RW  001/002", "Agama  -", "Pekerjaan  KARYAWAN",
		"Berlaku Hingga  SEUMUR HIDUP"}
	for i, l := range lines {
		d.Dot = fixed.P(220, 96+i*26)
		d.DrawString(l)
	}
	draw.Draw(c, image.Rect(470, 300, 600, 372), image.NewUniform(color.RGBA{150, 150, 170, 255}), image.Point{}, draw.Src)
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(out, out.Rect, c, c.Rect, draw.Src, nil)
	return out
}

// homography returns the 3×3 projective map (row-major, h[8] = 1) taking
// the four points src[i] to dst[i].
func homography(src, dst [4]inference.Point) [9]float64 {
	var a [8][9]float64
	for i := 0; i < 4; i++ {
		x, y, u, v := src[i].X, src[i].Y, dst[i].X, dst[i].Y
		a[2*i] = [9]float64{x, y, 1, 0, 0, 0, -u * x, -u * y, u}
		a[2*i+1] = [9]float64{0, 0, 0, x, y, 1, -v * x, -v * y, v}
	}
	for col := 0; col < 8; col++ { // Gauss–Jordan with partial pivoting
		p := col
		for r := col + 1; r < 8; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[p][col]) {
				p = r
			}
		}
		a[col], a[p] = a[p], a[col]
		for r := 0; r < 8; r++ {
			if r != col {
				f := a[r][col] / a[col][col]
				for k := col; k < 9; k++ {
					a[r][k] -= f * a[col][k]
				}
			}
		}
	}
	var h [9]float64
	for i := 0; i < 8; i++ {
		h[i] = a[i][8] / a[i][i]
	}
	h[8] = 1
	return h
}

// phonePhoto places card, warped by a perspective, on a dark textured table
// in a 1280×960 frame, the card about cardW pixels wide, then softens it and
// re-encodes it as a phone would (JPEG quality 75).
func phonePhoto(t *testing.T, card *image.RGBA, cardW float64) *image.RGBA {
	t.Helper()
	const W, H = 1280, 960
	out := image.NewRGBA(image.Rect(0, 0, W, H))
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			g := uint8(70 + 20*math.Sin(float64(x)/31+math.Sin(float64(y)/57)*3))
			out.SetRGBA(x, y, color.RGBA{g + 30, g + 10, g, 255})
		}
	}
	cw, ch := float64(card.Rect.Dx()), float64(card.Rect.Dy())
	s := cardW / cw
	cx, cy := 610.0, 470.0
	// A keystone (top edge farther away) and a small turn.
	dst := [4]inference.Point{
		{X: cx - 0.46*cw*s, Y: cy - 0.5*ch*s + 8}, {X: cx + 0.50*cw*s, Y: cy - 0.5*ch*s - 6},
		{X: cx + 0.56*cw*s, Y: cy + 0.5*ch*s + 10}, {X: cx - 0.52*cw*s, Y: cy + 0.5*ch*s},
	}
	src := [4]inference.Point{{X: 0, Y: 0}, {X: cw, Y: 0}, {X: cw, Y: ch}, {X: 0, Y: ch}}
	hm := homography(dst, src) // frame → card
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			w := hm[6]*fx + hm[7]*fy + hm[8]
			u, v := (hm[0]*fx+hm[1]*fy+hm[2])/w, (hm[3]*fx+hm[4]*fy+hm[5])/w
			if u < 0 || v < 0 || u >= cw-1 || v >= ch-1 {
				continue
			}
			out.SetRGBA(x, y, bilinear(card, u-0.5, v-0.5))
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: 75}); err != nil {
		t.Fatal(err)
	}
	img, err := inference.Decode(&buf, 1<<24)
	if err != nil {
		t.Fatal(err)
	}
	return img.(*image.RGBA)
}

func bilinear(img *image.RGBA, u, v float64) color.RGBA {
	u, v = math.Max(u, 0), math.Max(v, 0)
	x0, y0 := int(u), int(v)
	x1, y1 := min(x0+1, img.Rect.Dx()-1), min(y0+1, img.Rect.Dy()-1)
	fx, fy := u-float64(x0), v-float64(y0)
	var c [3]float64
	for k := 0; k < 3; k++ {
		p := func(x, y int) float64 { return float64(img.Pix[img.PixOffset(x, y)+k]) }
		c[k] = (p(x0, y0)*(1-fx)+p(x1, y0)*fx)*(1-fy) + (p(x0, y1)*(1-fx)+p(x1, y1)*fx)*fy
	}
	return color.RGBA{uint8(c[0] + 0.5), uint8(c[1] + 0.5), uint8(c[2] + 0.5), 255}
}

// TestReferenceCards analyses generated ID-card images as references and
// compares them with a kiosk-like photo of the same person: a flat scan,
// the scan turned 90°, 180° and 270° (pixels, no EXIF), a small card, and
// phone photos of the card in perspective (also turned). Each must give
// an OK reference whose cosine similarity to the capture passes the
// default match threshold.
func TestReferenceCards(t *testing.T) {
	e := testEngine(t)
	td := testdataDir(t)
	ctx := context.Background()
	probe, err := decodeFile(t, filepath.Join(td, "identity", "person_a_02.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	pa, err := e.Analyze(ctx, probe, inference.Options{Embed: true})
	if err != nil || pa.Decision != inference.DecisionOK {
		t.Fatalf("capture: %v %v", pa.Decision, err)
	}
	selfie := pa.Faces[pa.Subject].Embedding
	portrait := idPortrait(t, e, td)
	scan := idCard(portrait, 640)
	phone := phonePhoto(t, idCard(portrait, 640), 300)
	for _, tc := range []struct {
		name     string
		img      *image.RGBA
		rotation int
	}{
		{"scan", scan, 0},
		{"scan turned 90", inference.Orient(scan, 8), 90},
		{"scan turned 180", inference.Orient(scan, 3), 180},
		{"scan turned 270", inference.Orient(scan, 6), 270},
		{"small card", idCard(portrait, 240), 0},
		{"phone photo", phone, 0},
		{"phone photo turned 90", inference.Orient(phone, 8), 90},
		{"phone photo from farther", phonePhoto(t, idCard(portrait, 640), 240), 0},
		{"smallest card", idCard(portrait, 190), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			an, err := e.Analyze(ctx, tc.img, inference.Options{Embed: true, Reference: true})
			if err != nil {
				t.Fatal(err)
			}
			if an.Decision != inference.DecisionOK || an.Subject < 0 {
				size := 0.0
				if an.Subject >= 0 {
					size = an.Faces[an.Subject].Quality.FaceSize
				}
				t.Fatalf("%dx%d card: decision %s (face %.0f px, %d faces), want OK",
					tc.img.Rect.Dx(), tc.img.Rect.Dy(), an.Decision, size, len(an.Faces))
			}
			f := an.Faces[an.Subject]
			sim := inference.Cosine(selfie, f.Embedding)
			t.Logf("%dx%d: face %.0f px, turned %d°, cosine %.3f to the capture", tc.img.Rect.Dx(), tc.img.Rect.Dy(),
				f.Quality.FaceSize, an.Rotation, sim)
			if an.Rotation != tc.rotation {
				t.Errorf("turned %d°, want %d°", an.Rotation, tc.rotation)
			}
			if sim < inference.DefaultConfig().MatchThreshold {
				t.Errorf("cosine %.3f to the same person's capture, below the match threshold", sim)
			}
		})
	}
	// Kiosk captures keep the 40 px minimum and are not turned.
	small, err := e.Analyze(ctx, idCard(portrait, 240), inference.Options{Embed: true})
	if err != nil || small.Decision != inference.DecisionLowQuality {
		t.Errorf("31 px face as a capture: %s %v, want LOW_QUALITY", small.Decision, err)
	}
	turned, err := e.Analyze(ctx, inference.Orient(scan, 8), inference.Options{Embed: true})
	if err != nil || turned.Rotation != 0 {
		t.Errorf("a capture was turned %d° (%v)", turned.Rotation, err)
	}
}
