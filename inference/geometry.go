package inference

import (
	"errors"
	"fmt"
	"image"
	"math"
	"sort"
)

// Area is W×H in square pixels (0 for degenerate boxes).
func (b Box) Area() float64 {
	if b.W <= 0 || b.H <= 0 {
		return 0
	}
	return b.W * b.H
}

// Size is the shorter side of the box in pixels.
func (b Box) Size() float64 { return math.Min(b.W, b.H) }

// Center is the box centre in pixels.
func (b Box) Center() Point { return Point{b.X + b.W/2, b.Y + b.H/2} }

// IoU is the intersection-over-union of two boxes, 0–1.
func IoU(a, b Box) float64 {
	x0, y0 := math.Max(a.X, b.X), math.Max(a.Y, b.Y)
	x1, y1 := math.Min(a.X+a.W, b.X+b.W), math.Min(a.Y+a.H, b.Y+b.H)
	if x1 <= x0 || y1 <= y0 {
		return 0
	}
	inter := (x1 - x0) * (y1 - y0)
	union := a.Area() + b.Area() - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

// NMS is greedy non-maximum suppression: candidates are visited in order of
// decreasing score, and one is kept unless its IoU with an already kept box
// exceeds iou. It returns the kept indices in decreasing score order,
// appended to keep[:0] (pass a reused slice to avoid allocation); order is
// scratch space of len(boxes) (nil allocates). Degenerate boxes are dropped.
func NMS(boxes []Box, scores []float64, iou float64, keep, order []int) ([]int, []int) {
	keep = keep[:0]
	order = order[:0]
	for i := range boxes {
		if boxes[i].Area() > 0 {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	for _, i := range order {
		ok := true
		for _, k := range keep {
			if IoU(boxes[i], boxes[k]) > iou {
				ok = false
				break
			}
		}
		if ok {
			keep = append(keep, i)
		}
	}
	return keep, order
}

// Affine is a 2-D affine map (x, y) → (A·x + B·y + C, D·x + E·y + F).
type Affine struct{ A, B, C, D, E, F float64 }

// Apply maps p.
func (m Affine) Apply(p Point) Point {
	return Point{m.A*p.X + m.B*p.Y + m.C, m.D*p.X + m.E*p.Y + m.F}
}

// Invert returns the inverse map; ok is false when m is singular.
func (m Affine) Invert() (inv Affine, ok bool) {
	det := m.A*m.E - m.B*m.D
	if math.Abs(det) < 1e-12 || math.IsNaN(det) {
		return Affine{}, false
	}
	a, b, d, e := m.E/det, -m.B/det, -m.D/det, m.A/det
	return Affine{a, b, -(a*m.C + b*m.F), d, e, -(d*m.C + e*m.F)}, true
}

// ArcFaceTemplate is the standard 5-point destination of the 112×112 aligned
// face used by ArcFace (insightface, python-package/insightface/utils/
// face_align.py "arcface_dst"): left eye, right eye, nose tip, left mouth
// corner, right mouth corner, in pixels of the 112×112 crop. "Left" is the
// subject's right, i.e. the point on the left of the image.
var ArcFaceTemplate = [5]Point{
	{38.2946, 51.6963},
	{73.5318, 51.5014},
	{56.0252, 71.7366},
	{41.5493, 92.3655},
	{70.7299, 92.2041},
}

// ArcFaceSize is the side of the aligned crop in pixels.
const ArcFaceSize = 112

// ErrDegenerate is returned by SimilarityTransform for coincident points.
var ErrDegenerate = errors.New("degenerate point set")

// SimilarityTransform returns the similarity (uniform scale s, rotation θ,
// translation t; no reflection or shear) minimising Σ‖dst_i − (sR·src_i + t)‖²,
// the least-squares solution of Umeyama (1991), "Least-squares estimation of
// transformation parameters between two point patterns", restricted to 2-D.
// src and dst must have the same length ≥ 2.
func SimilarityTransform(src, dst []Point) (Affine, error) {
	n := len(src)
	if n < 2 || len(dst) != n {
		return Affine{}, errors.New("similarity transform: need ≥ 2 point pairs of equal count")
	}
	var ms, md Point
	for i := range src {
		ms.X += src[i].X
		ms.Y += src[i].Y
		md.X += dst[i].X
		md.Y += dst[i].Y
	}
	fn := float64(n)
	ms.X, ms.Y, md.X, md.Y = ms.X/fn, ms.Y/fn, md.X/fn, md.Y/fn
	var a, b, norm float64
	for i := range src {
		sx, sy := src[i].X-ms.X, src[i].Y-ms.Y
		dx, dy := dst[i].X-md.X, dst[i].Y-md.Y
		a += sx*dx + sy*dy
		b += sx*dy - sy*dx
		norm += sx*sx + sy*sy
	}
	if norm < 1e-12 || math.IsNaN(norm) {
		return Affine{}, ErrDegenerate
	}
	c, s := a/norm, b/norm // s·cosθ, s·sinθ
	return Affine{
		A: c, B: -s, C: md.X - (c*ms.X - s*ms.Y),
		D: s, E: c, F: md.Y - (s*ms.X + c*ms.Y),
	}, nil
}

// FivePoints reduces 68 iBUG 300-W landmarks (0-based indices) to the five
// ArcFace points: eye centres as the mean of the four eyelid points (37, 38,
// 40, 41 and 43, 44, 46, 47, skipping the corners), the nose tip 30, and the
// mouth corners as the means of the outer and inner lip corners (48, 60 and
// 54, 64). ok is false unless len(lm) == 68.
func FivePoints(lm []Point) (p [5]Point, ok bool) {
	if len(lm) != 68 {
		return p, false
	}
	mean := func(idx ...int) Point {
		var q Point
		for _, i := range idx {
			q.X += lm[i].X
			q.Y += lm[i].Y
		}
		return Point{q.X / float64(len(idx)), q.Y / float64(len(idx))}
	}
	p[0] = mean(37, 38, 40, 41)
	p[1] = mean(43, 44, 46, 47)
	p[2] = lm[30]
	p[3] = mean(48, 60)
	p[4] = mean(54, 64)
	return p, true
}

// WarpAffine fills dst by sampling src bilinearly at inv(x, y) for the centre
// of every destination pixel, where inv maps destination to source pixel
// coordinates (the inverse of the alignment). Samples outside src are black
// (OpenCV warpAffine's default constant border). It does not allocate.
func WarpAffine(dst, src *image.RGBA, inv Affine) {
	b := src.Rect
	w, h := b.Dx(), b.Dy()
	at := func(x, y int) []uint8 {
		if x < 0 || y < 0 || x >= w || y >= h {
			return nil
		}
		return src.Pix[src.PixOffset(b.Min.X+x, b.Min.Y+y):]
	}
	db := dst.Rect
	for y := 0; y < db.Dy(); y++ {
		d := dst.Pix[dst.PixOffset(db.Min.X, db.Min.Y+y):]
		for x := 0; x < db.Dx(); x++ {
			p := inv.Apply(Point{float64(x), float64(y)})
			x0, y0 := int(math.Floor(p.X)), int(math.Floor(p.Y))
			fx, fy := p.X-float64(x0), p.Y-float64(y0)
			var c [3]float64
			for k, wgt := range [4]float64{(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy} {
				s := at(x0+k%2, y0+k/2)
				if s == nil || wgt == 0 {
					continue
				}
				c[0] += wgt * float64(s[0])
				c[1] += wgt * float64(s[1])
				c[2] += wgt * float64(s[2])
			}
			i := 4 * x
			d[i+0] = clamp8(c[0])
			d[i+1] = clamp8(c[1])
			d[i+2] = clamp8(c[2])
			d[i+3] = 255
		}
	}
}

func clamp8(v float64) uint8 {
	v = math.Round(v)
	if v <= 0 {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v)
}

// AlignFace writes into dst (ArcFaceSize×ArcFaceSize) the face of src whose
// 68 landmarks (pixels of src) are lm, warped by the least-squares
// similarity transform of FivePoints(lm) onto ArcFaceTemplate. It returns
// the transform (src → dst pixels). A similarity, unlike an exact 3-point
// affine, cannot shear the face, which keeps embeddings of the same person
// close across poses.
func AlignFace(dst, src *image.RGBA, lm []Point) (Affine, error) {
	if dst.Rect.Dx() != ArcFaceSize || dst.Rect.Dy() != ArcFaceSize {
		return Affine{}, errors.New("align: destination must be 112×112")
	}
	five, ok := FivePoints(lm)
	if !ok {
		return Affine{}, errors.New("align: need 68 landmarks")
	}
	m, err := SimilarityTransform(five[:], ArcFaceTemplate[:])
	if err != nil {
		return Affine{}, fmt.Errorf("align: %w", err)
	}
	inv, ok := m.Invert()
	if !ok {
		return Affine{}, fmt.Errorf("align: %w", ErrDegenerate)
	}
	WarpAffine(dst, src, inv)
	return m, nil
}
