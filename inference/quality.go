package inference

import "math"

// LaplacianVariance is the variance of the 4-neighbour Laplacian
// [0 1 0; 1 −4 1; 0 1 0] (OpenCV Laplacian, ksize=1) over the interior of a
// w×h grey image g (row-major, values 0–255). Higher is sharper: a flat
// image gives 0; the value grows with the square of the contrast. It returns
// 0 for images smaller than 3×3 or a short slice.
func LaplacianVariance(g []float32, w, h int) float64 {
	if w < 3 || h < 3 || len(g) < w*h {
		return 0
	}
	var sum, sum2 float64
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			i := y*w + x
			l := float64(g[i-1] + g[i+1] + g[i-w] + g[i+w] - 4*g[i])
			sum += l
			sum2 += l * l
		}
	}
	n := float64((w - 2) * (h - 2))
	mean := sum / n
	return math.Max(0, sum2/n-mean*mean)
}

// MeanLevel is the mean of g (grey levels 0–255 give a brightness 0–255);
// 0 for an empty slice.
func MeanLevel(g []float32) float64 {
	if len(g) == 0 {
		return 0
	}
	var s float64
	for _, v := range g {
		s += float64(v)
	}
	return s / float64(len(g))
}

// Cosine is the cosine similarity a·b / (‖a‖‖b‖), −1…1. It returns 0 when
// the lengths differ or either vector is zero.
func Cosine(a, b []float32) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return 0
	}
	var dot, na, nb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		dot += x * y
		na += x * x
		nb += y * y
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// L2Normalize scales v in place to unit Euclidean length; a zero vector is
// left unchanged.
func L2Normalize(v []float32) {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(n))
	for i := range v {
		v[i] *= inv
	}
}
