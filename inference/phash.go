package inference

import (
	"errors"
	"fmt"
	"image"
	"math"
	"math/bits"
	"slices"
)

// Perceptual hashing of face crops, for replay detection: a copy of an image
// (re-encoded, resized, cropped, reframed, greyscale) aligns to nearly the
// same 112×112 face crop, so its hash is within a few bits of the
// original's, while the crop of another capture differs in many bits.

// LumaSide is the side of a Luma grid in cells.
const LumaSide = 32

// hashSide is the side of the block of DCT frequencies a PHash keeps.
const hashSide = 8

// Luma is a LumaSide×LumaSide grid of grey levels (ITU-R BT.601 luma,
// 0–255, as Gray tensors) resampled from an image by area averaging. It is
// the input of PHash and Correlation; the gateway builds one from an
// aligned face crop and never stores it.
type Luma [LumaSide * LumaSide]float32

// ErrEmptyImage: NewLuma was given a nil or empty image.
var ErrEmptyImage = errors.New("empty image")

// NewLuma resamples img (any size ≥ 1×1; transparent pixels composited over
// white as Decode does) to a Luma grid. ErrEmptyImage for a nil or empty
// image.
func NewLuma(img image.Image) (*Luma, error) {
	if img == nil || img.Bounds().Empty() {
		return nil, ErrEmptyImage
	}
	rgba := ToOpaqueRGBA(img, nil)
	var l Luma
	lay := TensorLayout{Width: LumaSide, Height: LumaSide, Order: Gray, Scale: 1, Antialias: true}
	crop := Box{W: float64(rgba.Rect.Dx()), H: float64(rgba.Rect.Dy())}
	if err := ResizeInto(l[:], rgba, crop, lay); err != nil {
		return nil, err
	}
	return &l, nil
}

// Mirror returns the left-right mirror image of l.
func (l *Luma) Mirror() *Luma {
	var m Luma
	for y := 0; y < LumaSide; y++ {
		row := l[y*LumaSide : (y+1)*LumaSide]
		out := m[y*LumaSide : (y+1)*LumaSide]
		for x := range row {
			out[LumaSide-1-x] = row[x]
		}
	}
	return &m
}

// dctBasis[u][x] = cos((2x+1)uπ / 2N) for the lowest hashSide+1
// frequencies u of an N = LumaSide point DCT-II.
var dctBasis = func() (b [hashSide + 1][LumaSide]float64) {
	for u := range b {
		for x := range b[u] {
			b[u][x] = math.Cos(float64(2*x+1) * float64(u) * math.Pi / (2 * LumaSide))
		}
	}
	return b
}()

// PHash is a 64-bit DCT perceptual hash (the pHash construction of Zauner,
// "Implementation and Benchmarking of Perceptual Image Hash Functions",
// 2010): the 2-D DCT-II of a 32×32 luma grid, the 8×8 block of
// frequencies (1…8, 1…8) — skipping the DC row and column, which carry the
// mean level and whole-image gradients (lighting) — and one bit per
// coefficient, set when it is above the block's median, row-major from the
// lowest frequency. A global change of brightness or contrast keeps every
// bit; small resampling and compression noise flips few. Two hashes are
// compared by Distance.
type PHash uint64

// Distance is the Hamming distance between two hashes, 0–64 bits.
func (h PHash) Distance(o PHash) int { return bits.OnesCount64(uint64(h ^ o)) }

// Bands splits h into four 16-bit bands, most significant first. Two hashes
// within Distance 3 share at least one band (pigeonhole), so a store can
// find candidates by four indexed equality lookups and check the full
// distance afterwards.
func (h PHash) Bands() [4]uint16 {
	return [4]uint16{uint16(h >> 48), uint16(h >> 32), uint16(h >> 16), uint16(h)}
}

// PHashes returns the PHash of l and of its left-right mirror image
// (Mirror().PHash()), from one transform: mirroring x multiplies the
// coefficient of horizontal frequency u by (−1)^u.
func (l *Luma) PHashes() (h, mirrored PHash) {
	// Rows first: r[y][u] = Σx basis[u][x]·l[y][x] for u = 1…hashSide.
	var r [LumaSide][hashSide]float64
	for y := 0; y < LumaSide; y++ {
		row := l[y*LumaSide : (y+1)*LumaSide]
		for u := 0; u < hashSide; u++ {
			b := &dctBasis[u+1]
			var s float64
			for x, v := range row {
				s += b[x] * float64(v)
			}
			r[y][u] = s
		}
	}
	// Then columns: c[v][u] = Σy basis[v][y]·r[y][u] for v = 1…hashSide.
	var c, cm [hashSide * hashSide]float64
	for v := 0; v < hashSide; v++ {
		b := &dctBasis[v+1]
		for u := 0; u < hashSide; u++ {
			var s float64
			for y := 0; y < LumaSide; y++ {
				s += b[y] * r[y][u]
			}
			c[v*hashSide+u] = s
			// Horizontal frequency u+1: odd ones change sign in the mirror.
			if (u+1)%2 == 1 {
				s = -s
			}
			cm[v*hashSide+u] = s
		}
	}
	return threshold(&c), threshold(&cm)
}

// PHash returns the perceptual hash of l.
func (l *Luma) PHash() PHash {
	h, _ := l.PHashes()
	return h
}

// threshold sets bit 63−i when coefficient i is above the median.
func threshold(c *[hashSide * hashSide]float64) PHash {
	s := *c
	slices.Sort(s[:])
	med := (s[len(s)/2-1] + s[len(s)/2]) / 2
	var h PHash
	for i, v := range c {
		if v > med {
			h |= 1 << (63 - i)
		}
	}
	return h
}

// Correlation is the Pearson correlation of two luma grids, −1…1: 1 when
// one is an increasing affine function of the other (the same pixels at
// another brightness or contrast), near 0 for unrelated images. A constant
// grid correlates 0 with anything.
func Correlation(a, b *Luma) float64 {
	const n = LumaSide * LumaSide
	var sa, sb float64
	for i := range a {
		sa += float64(a[i])
		sb += float64(b[i])
	}
	ma, mb := sa/n, sb/n
	var cov, va, vb float64
	for i := range a {
		da, db := float64(a[i])-ma, float64(b[i])-mb
		cov += da * db
		va += da * da
		vb += db * db
	}
	if va < 1e-9 || vb < 1e-9 {
		return 0
	}
	return cov / math.Sqrt(va*vb)
}

// AlignMirroredFace writes into dst (ArcFaceSize×ArcFaceSize) the aligned
// crop that AlignFace would make of the left-right mirror image of src,
// without mirroring src: the five points of lm (68 landmarks, pixels of src)
// are mirrored, their left and right swapped, and the warp samples src at
// the mirrored positions. A mirrored copy of src, analysed on its own,
// aligns to nearly this crop; comparing against it finds mirrored copies
// whose pose makes AlignFace's crop asymmetric.
func AlignMirroredFace(dst, src *image.RGBA, lm []Point) error {
	if dst.Rect.Dx() != ArcFaceSize || dst.Rect.Dy() != ArcFaceSize {
		return errors.New("align mirrored: destination must be 112×112")
	}
	five, ok := FivePoints(lm)
	if !ok {
		return errors.New("align mirrored: need 68 landmarks")
	}
	w := float64(src.Rect.Dx())
	mir := func(p Point) Point { return Point{X: w - 1 - p.X, Y: p.Y} }
	// In the mirror image the subject's right eye is on the left.
	m5 := []Point{mir(five[1]), mir(five[0]), mir(five[2]), mir(five[4]), mir(five[3])}
	m, err := SimilarityTransform(m5, ArcFaceTemplate[:])
	if err != nil {
		return fmt.Errorf("align mirrored: %w", err)
	}
	inv, ok := m.Invert()
	if !ok {
		return fmt.Errorf("align mirrored: %w", ErrDegenerate)
	}
	// inv maps a crop pixel to the mirror image; mirror again into src.
	WarpAffine(dst, src, Affine{A: -inv.A, B: -inv.B, C: w - 1 - inv.C, D: inv.D, E: inv.E, F: inv.F})
	return nil
}
