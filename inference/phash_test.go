package inference

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"
)

// noiseImage is a w×h image of smooth random structure (a sum of sines)
// from seed.
func noiseImage(seed uint64, w, h int) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 3))
	type wave struct{ fx, fy, ph, a float64 }
	waves := make([]wave, 6)
	for i := range waves {
		waves[i] = wave{r.Float64() * 0.2, r.Float64() * 0.2, r.Float64() * 6.3, 10 + r.Float64()*30}
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := 128.0
			for _, wv := range waves {
				v += wv.a * math.Sin(wv.fx*float64(x)+wv.fy*float64(y)+wv.ph)
			}
			g := uint8(max(0, min(255, v)))
			img.SetRGBA(x, y, color.RGBA{g, uint8(255 - int(g)/2), g / 2, 255})
		}
	}
	return img
}

func mustLuma(t *testing.T, img image.Image) *Luma {
	t.Helper()
	l, err := NewLuma(img)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestPHashInvariances(t *testing.T) {
	base := noiseImage(1, 112, 112)
	lb := mustLuma(t, base)
	h, hm := lb.PHashes()
	if h.Distance(h) != 0 || h.Distance(hm) == 0 {
		t.Fatalf("h %016x mirrored %016x", uint64(h), uint64(hm))
	}
	// The mirror hash from the sign trick equals the hash of the mirrored grid.
	if got := lb.Mirror().PHash(); got.Distance(hm) > 1 {
		t.Errorf("Mirror().PHash() %016x, PHashes mirrored %016x: %d bits apart", uint64(got), uint64(hm), got.Distance(hm))
	}
	brighter := image.NewRGBA(base.Rect)
	for i := 0; i < len(base.Pix); i += 4 {
		for k := range 3 {
			brighter.Pix[i+k] = uint8(min(255, 20+float64(base.Pix[i+k])*0.8))
		}
		brighter.Pix[i+3] = 255
	}
	big := image.NewRGBA(image.Rect(0, 0, 448, 448)) // 4× nearest-neighbour
	for y := range 448 {
		for x := range 448 {
			big.SetRGBA(x, y, base.RGBAAt(x/4, y/4))
		}
	}
	other := mustLuma(t, noiseImage(2, 112, 112)).PHash()
	tests := []struct {
		name    string
		img     image.Image
		maxBits int
	}{
		{"brightness and contrast", brighter, 0},
		{"4× larger", big, 2},
	}
	for _, tt := range tests {
		if d := mustLuma(t, tt.img).PHash().Distance(h); d > tt.maxBits {
			t.Errorf("%s: %d bits from the original, want ≤ %d", tt.name, d, tt.maxBits)
		}
	}
	if d := other.Distance(h); d < 16 {
		t.Errorf("an unrelated image is only %d bits away", d)
	}
	if c := Correlation(lb, mustLuma(t, brighter)); c < 0.999 {
		t.Errorf("correlation with a brighter copy %.4f, want ≈ 1", c)
	}
}

// TestBandsPigeonhole: hashes within 3 bits share a 16-bit band; 4 bits,
// one per band, can share none.
func TestBandsPigeonhole(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	shares := func(a, b PHash) bool {
		ba, bb := a.Bands(), b.Bands()
		for i := range ba {
			if ba[i] == bb[i] {
				return true
			}
		}
		return false
	}
	for range 10000 {
		h := PHash(r.Uint64())
		o := h
		for range r.IntN(4) {
			o ^= 1 << r.IntN(64)
		}
		if !shares(h, o) {
			t.Fatalf("%016x and %016x (%d bits) share no band", uint64(h), uint64(o), h.Distance(o))
		}
	}
	h := PHash(r.Uint64())
	if o := h ^ 0x0001_0001_0001_0001; shares(h, o) || h.Distance(o) != 4 {
		t.Error("one bit in each band still shares a band")
	}
	if got := PHash(0x0123_4567_89ab_cdef).Bands(); got != [4]uint16{0x0123, 0x4567, 0x89ab, 0xcdef} {
		t.Errorf("Bands = %04x", got)
	}
}

func TestCorrelation(t *testing.T) {
	a := mustLuma(t, noiseImage(3, 64, 64))
	var neg, flat Luma
	for i := range a {
		neg[i] = 255 - a[i]
		flat[i] = 90
	}
	tests := []struct {
		name string
		b    *Luma
		want float64
	}{
		{"itself", a, 1},
		{"negative", &neg, -1},
		{"constant", &flat, 0},
	}
	for _, tt := range tests {
		if got := Correlation(a, tt.b); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if _, err := NewLuma(image.NewRGBA(image.Rectangle{})); err == nil {
		t.Error("NewLuma of an empty image: no error")
	}
}

// TestAlignMirroredFace: the crop equals AlignFace of the mirrored image
// with the landmarks a detector would find there (mirrored, left and right
// swapped).
func TestAlignMirroredFace(t *testing.T) {
	src := noiseImage(4, 300, 260)
	w := float64(src.Rect.Dx())
	lm := make([]Point, 68)
	for i := range lm {
		lm[i] = Point{150, 130}
	}
	set := func(p Point, idx ...int) {
		for _, i := range idx {
			lm[i] = p
		}
	}
	set(Point{120, 110}, 37, 38, 40, 41) // subject's right eye (image left)
	set(Point{182, 104}, 43, 44, 46, 47)
	set(Point{153, 140}, 30)
	set(Point{128, 172}, 48, 60)
	set(Point{176, 168}, 54, 64)
	mir := func(p Point) Point { return Point{w - 1 - p.X, p.Y} }
	lmM := make([]Point, 68)
	copy(lmM, lm)
	for _, pair := range [][2]int{{37, 43}, {38, 44}, {40, 46}, {41, 47}, {48, 54}, {60, 64}} {
		lmM[pair[0]], lmM[pair[1]] = mir(lm[pair[1]]), mir(lm[pair[0]])
	}
	lmM[30] = mir(lm[30])
	flipped := image.NewRGBA(src.Rect)
	for y := range src.Rect.Dy() {
		for x := range src.Rect.Dx() {
			flipped.SetRGBA(src.Rect.Dx()-1-x, y, src.RGBAAt(x, y))
		}
	}
	want := image.NewRGBA(image.Rect(0, 0, ArcFaceSize, ArcFaceSize))
	if _, err := AlignFace(want, flipped, lmM); err != nil {
		t.Fatal(err)
	}
	got := image.NewRGBA(image.Rect(0, 0, ArcFaceSize, ArcFaceSize))
	if err := AlignMirroredFace(got, src, lm); err != nil {
		t.Fatal(err)
	}
	for i := range got.Pix {
		if d := int(got.Pix[i]) - int(want.Pix[i]); d < -1 || d > 1 {
			t.Fatalf("byte %d: %d, want %d (±1)", i, got.Pix[i], want.Pix[i])
		}
	}
	if err := AlignMirroredFace(got, src, lm[:5]); err == nil {
		t.Error("5 landmarks: no error")
	}
}

// BenchmarkFaceprint is the hashing of one aligned crop: luma grid, both
// hashes.
func BenchmarkFaceprint(b *testing.B) {
	img := noiseImage(5, ArcFaceSize, ArcFaceSize)
	b.ReportAllocs()
	for b.Loop() {
		l, _ := NewLuma(img)
		l.PHashes()
	}
}
