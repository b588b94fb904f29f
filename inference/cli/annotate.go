package cli

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/faceverify/faceverify/inference"
)

var (
	colSubject = color.RGBA{0, 230, 0, 255}   // the face the decision is about
	colOther   = color.RGBA{255, 170, 0, 255} // other faces
	colMark    = color.RGBA{255, 0, 255, 255} // landmarks
	colText    = color.RGBA{255, 255, 255, 255}
	colTextBg  = color.RGBA{0, 0, 0, 255}
)

// Annotate returns a copy of img with every face's box (green for the
// subject, orange for others), its 68 landmarks and a label
// "score / liveness" drawn, plus the decision in the top-left corner. Line
// widths scale with the image so that they stay visible on large photos.
func Annotate(img image.Image, an inference.Analysis) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Rect, img, b.Min, draw.Src)
	th := max(1, max(b.Dx(), b.Dy())/400)
	for i, f := range an.Faces {
		c := colOther
		if i == an.Subject {
			c = colSubject
		}
		r := image.Rect(int(f.Box.X), int(f.Box.Y), int(f.Box.X+f.Box.W), int(f.Box.Y+f.Box.H))
		rect(out, r, th, c)
		for _, p := range f.Landmarks {
			fill(out, image.Rect(int(p.X)-th, int(p.Y)-th, int(p.X)+th+1, int(p.Y)+th+1), colMark)
		}
		label := fmt.Sprintf("%.2f", f.Score)
		if f.Liveness >= 0 {
			label += fmt.Sprintf(" live %.2f", f.Liveness)
		}
		text(out, r.Min.X, r.Min.Y-2, label)
	}
	text(out, 2, 15, string(an.Decision))
	return out
}

// rect draws the outline of r with thickness th.
func rect(img *image.RGBA, r image.Rectangle, th int, c color.RGBA) {
	fill(img, image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+th), c)
	fill(img, image.Rect(r.Min.X, r.Max.Y-th, r.Max.X, r.Max.Y), c)
	fill(img, image.Rect(r.Min.X, r.Min.Y, r.Min.X+th, r.Max.Y), c)
	fill(img, image.Rect(r.Max.X-th, r.Min.Y, r.Max.X, r.Max.Y), c)
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(img, r.Intersect(img.Rect), image.NewUniform(c), image.Point{}, draw.Src)
}

// text draws s with basicfont 7×13 on a black band, baseline at y
// (moved inside the image when needed).
func text(img *image.RGBA, x, y int, s string) {
	face := basicfont.Face7x13
	w := font.MeasureString(face, s).Ceil()
	y = max(y, 13)
	x = max(0, min(x, img.Rect.Dx()-w))
	fill(img, image.Rect(x, y-11, x+w, y+3), colTextBg)
	d := font.Drawer{Dst: img, Src: image.NewUniform(colText), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// WriteAnnotated writes Annotate(img, an) as PNG into dir, named after the
// input file's base name with ".png", and returns the path written. used
// records the names written by this run (nil allowed): a repeated base name
// gets a numeric suffix instead of overwriting; files from earlier runs are
// replaced.
func WriteAnnotated(dir, file string, img image.Image, an inference.Analysis, used map[string]bool) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("annotate: %w", err)
	}
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	name := base + ".png"
	for n := 1; used[name]; n++ {
		name = fmt.Sprintf("%s-%d.png", base, n)
	}
	if used != nil {
		used[name] = true
	}
	path := filepath.Join(dir, name)
	out, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("annotate: %w", err)
	}
	if err := png.Encode(out, Annotate(img, an)); err != nil {
		out.Close()
		return "", fmt.Errorf("annotate %s: %w", path, err)
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("annotate %s: %w", path, err)
	}
	return path, nil
}
