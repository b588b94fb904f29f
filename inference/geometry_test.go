package inference

import (
	"image"
	"image/color"
	"math"
	"strings"
	"testing"
)

func TestSimilarityTransformRecoversKnownTransform(t *testing.T) {
	for _, c := range []struct {
		name             string
		s, theta, tx, ty float64
	}{
		{"identity", 1, 0, 0, 0},
		{"scale+shift", 0.4, 0, 12, -7},
		{"rotate 30°", 2.5, math.Pi / 6, -100, 40},
		{"rotate −90°", 0.1, -math.Pi / 2, 3, 3},
	} {
		want := Affine{
			A: c.s * math.Cos(c.theta), B: -c.s * math.Sin(c.theta), C: c.tx,
			D: c.s * math.Sin(c.theta), E: c.s * math.Cos(c.theta), F: c.ty,
		}
		src := []Point{{10, 20}, {80, 22}, {45, 60}, {15, 95}, {75, 90}}
		dst := make([]Point, len(src))
		for i, p := range src {
			dst[i] = want.Apply(p)
		}
		got, err := SimilarityTransform(src, dst)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i, p := range src {
			q := got.Apply(p)
			if math.Hypot(q.X-dst[i].X, q.Y-dst[i].Y) > 1e-9 {
				t.Errorf("%s: point %d maps to %v, want %v", c.name, i, q, dst[i])
			}
		}
		inv, ok := got.Invert()
		if !ok {
			t.Fatalf("%s: not invertible", c.name)
		}
		if p := inv.Apply(dst[2]); math.Hypot(p.X-src[2].X, p.Y-src[2].Y) > 1e-9 {
			t.Errorf("%s: inverse maps back to %v, want %v", c.name, p, src[2])
		}
	}
}

func TestSimilarityTransformLeastSquaresHasNoShear(t *testing.T) {
	// Points related by a shear: the best similarity cannot reproduce it,
	// and the result must stay a rotation+scale (A=E, B=−D).
	src := []Point{{0, 0}, {10, 0}, {0, 10}, {10, 10}}
	dst := []Point{{0, 0}, {10, 0}, {5, 10}, {15, 10}}
	m, err := SimilarityTransform(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.A-m.E) > 1e-12 || math.Abs(m.B+m.D) > 1e-12 {
		t.Errorf("not a similarity: %+v", m)
	}
	if _, err := SimilarityTransform([]Point{{1, 1}, {1, 1}}, []Point{{0, 0}, {1, 1}}); err == nil {
		t.Error("coincident points: want error")
	}
	if _, err := SimilarityTransform([]Point{{1, 1}}, []Point{{0, 0}, {1, 1}}); err == nil {
		t.Error("mismatched counts: want error")
	}
}

func TestNMS(t *testing.T) {
	boxes := []Box{
		{0, 0, 10, 10},   // 0: score .9
		{1, 1, 10, 10},   // 1: overlaps 0 heavily, .8
		{20, 20, 10, 10}, // 2: separate, .7
		{0, 0, 10, 10},   // 3: duplicate of 0, .95
		{5, 0, 10, 10},   // 4: IoU with 3 = 1/3, .6
		{50, 50, 0, 10},  // 5: degenerate, .99
	}
	scores := []float64{0.9, 0.8, 0.7, 0.95, 0.6, 0.99}
	for _, c := range []struct {
		iou  float64
		want []int
	}{
		{0.5, []int{3, 2, 4}},
		{0.3, []int{3, 2}},
		{1.0, []int{3, 0, 1, 2, 4}},
	} {
		keep, _ := NMS(boxes, scores, c.iou, nil, nil)
		if len(keep) != len(c.want) {
			t.Errorf("iou %.1f: kept %v, want %v", c.iou, keep, c.want)
			continue
		}
		for i := range keep {
			if keep[i] != c.want[i] {
				t.Errorf("iou %.1f: kept %v, want %v", c.iou, keep, c.want)
				break
			}
		}
	}
	if v := IoU(Box{0, 0, 10, 10}, Box{5, 0, 10, 10}); math.Abs(v-1.0/3) > 1e-12 {
		t.Errorf("IoU = %v, want 1/3", v)
	}
}

func TestResizeInto(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 2, 2))
	src.SetRGBA(0, 0, color.RGBA{10, 20, 30, 255})
	src.SetRGBA(1, 0, color.RGBA{40, 50, 60, 255})
	src.SetRGBA(0, 1, color.RGBA{70, 80, 90, 255})
	src.SetRGBA(1, 1, color.RGBA{100, 110, 120, 255})
	full := Box{W: 2, H: 2}
	cases := []struct {
		name string
		l    TensorLayout
		want []float32
	}{
		{"identity RGB", TensorLayout{2, 2, RGB, 0, 1, false}, []float32{10, 40, 70, 100, 20, 50, 80, 110, 30, 60, 90, 120}},
		{"identity BGR", TensorLayout{2, 2, BGR, 0, 1, false}, []float32{30, 60, 90, 120, 20, 50, 80, 110, 10, 40, 70, 100}},
		{"normalised", TensorLayout{2, 2, RGB, 127.5, 1.0 / 128, false}, []float32{(10 - 127.5) / 128, (40 - 127.5) / 128}},
		{"shrink to 1", TensorLayout{1, 1, RGB, 0, 1, false}, []float32{55, 65, 75}},
		{"grey", TensorLayout{1, 1, Gray, 0, 1, false}, []float32{0.299*55 + 0.587*65 + 0.114*75}},
		{"area 1", TensorLayout{1, 1, BGR, 0, 1, true}, []float32{75, 65, 55}},
	}
	for _, c := range cases {
		dst := make([]float32, c.l.Len())
		if err := ResizeInto(dst, src, full, c.l); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i, w := range c.want {
			if math.Abs(float64(dst[i]-w)) > 1e-3 {
				t.Errorf("%s: value %d = %v, want %v (all %v)", c.name, i, dst[i], w, dst)
			}
		}
	}
	// Crops past the image repeat the border pixel.
	dst := make([]float32, 3)
	if err := ResizeInto(dst, src, Box{X: -10, Y: -10, W: 2, H: 2}, TensorLayout{1, 1, RGB, 0, 1, false}); err != nil {
		t.Fatal(err)
	}
	if dst[0] != 10 || dst[2] != 30 {
		t.Errorf("outside crop: %v, want the top-left pixel", dst)
	}
	if err := ResizeInto(make([]float32, 5), src, full, TensorLayout{2, 2, RGB, 0, 1, false}); err == nil || !strings.Contains(err.Error(), "layout needs 12") {
		t.Errorf("wrong tensor length: err %v", err)
	}
}

func TestAlignFaceMapsLandmarksOntoTemplate(t *testing.T) {
	// Build 68 landmarks whose five derived points are the template
	// rotated by 20°, scaled 3× and shifted; alignment must undo it.
	fwd := Affine{A: 3 * math.Cos(0.35), B: -3 * math.Sin(0.35), C: 200, D: 3 * math.Sin(0.35), E: 3 * math.Cos(0.35), F: 150}
	lm := make([]Point, 68)
	set := func(p Point, idx ...int) {
		for _, i := range idx {
			lm[i] = fwd.Apply(p)
		}
	}
	set(ArcFaceTemplate[0], 37, 38, 40, 41)
	set(ArcFaceTemplate[1], 43, 44, 46, 47)
	set(ArcFaceTemplate[2], 30)
	set(ArcFaceTemplate[3], 48, 60)
	set(ArcFaceTemplate[4], 54, 64)
	src := image.NewRGBA(image.Rect(0, 0, 600, 600))
	// A bright dot at the left eye's source position.
	eye := fwd.Apply(ArcFaceTemplate[0])
	for y := -3; y <= 3; y++ {
		for x := -3; x <= 3; x++ {
			src.SetRGBA(int(eye.X)+x, int(eye.Y)+y, color.RGBA{255, 255, 255, 255})
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, ArcFaceSize, ArcFaceSize))
	m, err := AlignFace(dst, src, lm)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ArcFaceTemplate {
		q := m.Apply(fwd.Apply(ArcFaceTemplate[i]))
		if math.Hypot(q.X-ArcFaceTemplate[i].X, q.Y-ArcFaceTemplate[i].Y) > 1e-6 {
			t.Errorf("point %d aligned to %v, want %v", i, q, ArcFaceTemplate[i])
		}
	}
	if c := dst.RGBAAt(int(ArcFaceTemplate[0].X), int(ArcFaceTemplate[0].Y)); c.R < 200 {
		t.Errorf("eye pixel %v, want bright", c)
	}
	if c := dst.RGBAAt(5, 5); c.R != 0 {
		t.Errorf("background pixel %v, want black", c)
	}
	if _, err := AlignFace(dst, src, lm[:5]); err == nil {
		t.Error("5 landmarks: want error")
	}
}

func TestLaplacianVarianceAndBrightness(t *testing.T) {
	const n = 32
	flat := make([]float32, n*n)
	checker := make([]float32, n*n)
	smooth := make([]float32, n*n)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			flat[y*n+x] = 100
			if (x+y)%2 == 0 {
				checker[y*n+x] = 200
			}
			smooth[y*n+x] = float32(x * 4)
		}
	}
	if v := LaplacianVariance(flat, n, n); v != 0 {
		t.Errorf("flat: %v, want 0", v)
	}
	if v := LaplacianVariance(smooth, n, n); v > 1e-6 {
		t.Errorf("linear ramp: %v, want 0", v)
	}
	if v := LaplacianVariance(checker, n, n); v < 1e5 {
		t.Errorf("checkerboard: %v, want large", v)
	}
	if v := LaplacianVariance(flat, 2, 2); v != 0 {
		t.Errorf("tiny image: %v", v)
	}
	if b := MeanLevel(checker); b != 100 {
		t.Errorf("brightness %v, want 100", b)
	}
}

func TestCosine(t *testing.T) {
	for _, c := range []struct {
		a, b []float32
		want float64
	}{
		{[]float32{1, 0}, []float32{1, 0}, 1},
		{[]float32{1, 0}, []float32{0, 1}, 0},
		{[]float32{1, 1}, []float32{-2, -2}, -1},
		{[]float32{3, 4}, []float32{4, 3}, 24.0 / 25},
		{[]float32{0, 0}, []float32{1, 0}, 0},
		{[]float32{1}, []float32{1, 0}, 0},
	} {
		if got := Cosine(c.a, c.b); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Cosine(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	v := []float32{3, 4}
	L2Normalize(v)
	if math.Abs(float64(v[0])-0.6) > 1e-6 || math.Abs(float64(v[1])-0.8) > 1e-6 {
		t.Errorf("L2Normalize: %v", v)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for _, c := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.LivenessThreshold = 1.5 }, "inference.liveness_threshold: must be in [0,1], got 1.5"},
		{func(c *Config) { c.DetectionThreshold = -0.1 }, "inference.detection_threshold"},
		{func(c *Config) { c.MatchThreshold = 2 }, "inference.match_threshold"},
		{func(c *Config) { c.MatchThreshold = math.NaN() }, "inference.match_threshold"},
		{func(c *Config) { c.ModelsDir = "" }, "inference.models_dir"},
		{func(c *Config) { c.MaxPixels = 0 }, "inference.max_pixels"},
		{func(c *Config) { c.MaxBytes = -1 }, "inference.max_bytes"},
		{func(c *Config) { c.IntraOpThreads = -2 }, "inference.intra_op_threads"},
		{func(c *Config) { c.MinFaceSize = -1 }, "inference.min_face_size"},
		{func(c *Config) { c.MultiFaceRatio = 1.2 }, "inference.multi_face_ratio"},
		{func(c *Config) { c.NMSIoU = 2 }, "inference.nms_iou"},
		{func(c *Config) { c.MinSharpness = -1 }, "inference.min_sharpness"},
		{func(c *Config) { c.MinBrightness = 300 }, "inference.min_brightness"},
		{func(c *Config) { c.MaxBrightness = 10 }, "inference.max_brightness"},
	} {
		cfg := DefaultConfig()
		c.mutate(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err %v, want %q", err, c.want)
		}
	}
}
