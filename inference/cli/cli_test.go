package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/inferencetest"
)

// writePNG writes a w×h PNG whose top-left pixel's red value r lets the
// fake analyzer tell files apart.
func writePNG(t *testing.T, dir, name string, w, h int, r uint8) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	img.SetRGBA(0, 0, color.RGBA{r, 0, 0, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fake answers by the red value of pixel (0,0): 1 → embedding e1, 2 → e2,
// 3 → two faces, 4 → no face.
var (
	e1   = []float32{1, 0, 0}
	e2   = []float32{0.6, 0.8, 0}
	fake = inferencetest.Fake{Fn: func(_ context.Context, img image.Image, opts inference.Options) (inference.Analysis, error) {
		w, h := img.Bounds().Dx(), img.Bounds().Dy()
		r, _, _, _ := img.At(0, 0).RGBA()
		switch r >> 8 {
		case 1:
			return inferencetest.OneFace(w, h, 0.9, e1, opts), nil
		case 2:
			return inferencetest.OneFace(w, h, 0.1, e2, opts), nil
		case 3:
			an := inferencetest.OneFace(w, h, 0.9, e1, opts)
			an.Faces = append(an.Faces, an.Faces[0])
			an.Decision = inference.DecisionMultipleFaces
			return an, nil
		case 4:
			return inference.Analysis{Width: w, Height: h, Decision: inference.DecisionNoFace, Subject: -1}, nil
		}
		return inference.Analysis{}, errors.New("runtime failure")
	}}
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	def, err := LoadConfig("")
	if err != nil || def != inference.DefaultConfig() {
		t.Fatalf("defaults: %+v %v", def, err)
	}
	write := func(s string) string {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := LoadConfig(write("[agent]\nfoo = 1\n[inference]\nmatch_threshold = 0.5\nmodels_dir = \"/m\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MatchThreshold != 0.5 || cfg.ModelsDir != "/m" || cfg.LivenessThreshold != def.LivenessThreshold {
		t.Errorf("overlay: %+v", cfg)
	}
	for _, c := range []struct {
		toml      string
		threshold float64
	}{
		{"[inference]\nembedder = \"mobilefacenet\"\n", inference.DefaultMatchThreshold(inference.EmbedderMobileFaceNet)},
		{"[inference]\nembedder = \"mobilefacenet\"\nmatch_threshold = 0.4\n", 0.4},
		{"[inference]\nembedder = \"fr_feature\"\n", 0.35},
	} {
		cfg, err := LoadConfig(write(c.toml))
		if err != nil || cfg.MatchThreshold != c.threshold {
			t.Errorf("%q: threshold %v (err %v), want %v", c.toml, cfg.MatchThreshold, err, c.threshold)
		}
	}
	for _, c := range []struct{ toml, want string }{
		{"[inference]\nliveness_threshold = 1.5\n", "inference.liveness_threshold"},
		{"[inference]\nembedder = \"arcface\"\n", "inference.embedder: must be"},
		{"[inference]\nmatch = 0.3\n", "unknown key inference.match (line 2)"},
		{"[inference\n", "c.toml"},
	} {
		if _, err := LoadConfig(write(c.toml)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want %q", c.toml, err, c.want)
		}
	}
}

func TestAnalyzeReports(t *testing.T) {
	dir := t.TempDir()
	cfg := inference.DefaultConfig()
	ok := writePNG(t, dir, "ok.png", 40, 20, 1)
	rep, img, _, err := Analyze(context.Background(), fake, cfg, ok, inference.Options{Liveness: true})
	if err != nil || img == nil {
		t.Fatal(err)
	}
	if rep.Decision != inference.DecisionOK || rep.Width != 40 || rep.Height != 20 || len(rep.Faces) != 1 ||
		rep.Faces[0].Box != [4]int{10, 5, 20, 10} || rep.Faces[0].Liveness == nil || *rep.Faces[0].Liveness != 0.9 || !rep.Faces[0].Live {
		t.Errorf("report %+v", rep)
	}
	js, _ := json.Marshal(rep)
	for _, key := range []string{`"file"`, `"width":40`, `"box":[10,5,20,10]`, `"liveness":0.9`, `"live":true`, `"decision":"OK"`} {
		if !bytes.Contains(js, []byte(key)) {
			t.Errorf("JSON %s lacks %s", js, key)
		}
	}
	if !strings.Contains(rep.Line(), "OK 40x20, 1 face(s)") {
		t.Errorf("line %q", rep.Line())
	}

	bad := filepath.Join(dir, "bad.jpg")
	os.WriteFile(bad, []byte("\xff\xd8\xff garbage"), 0o644)
	big := writePNG(t, dir, "big.png", 100, 100, 1)
	cfg.MaxPixels = 5000
	for _, c := range []struct {
		file string
		want inference.Decision
	}{
		{bad, inference.DecisionDecodeError},
		{big, inference.DecisionTooLarge},
		{filepath.Join(dir, "missing.png"), inference.DecisionDecodeError},
	} {
		rep, img, _, err := Analyze(context.Background(), fake, cfg, c.file, inference.Options{})
		if err != nil || img != nil || rep.Decision != c.want || rep.Read() || rep.Faces == nil {
			t.Errorf("%s: %+v %v", c.file, rep, err)
		}
	}
	if _, _, _, err := Analyze(context.Background(), fake, inference.DefaultConfig(), writePNG(t, dir, "x.png", 4, 4, 9), inference.Options{}); err == nil {
		t.Error("runtime failure: want error")
	}
}

func TestMatch(t *testing.T) {
	dir := t.TempDir()
	cfg := inference.DefaultConfig()
	a := writePNG(t, dir, "a.png", 40, 40, 1)
	b := writePNG(t, dir, "b.png", 40, 40, 2)
	two := writePNG(t, dir, "two.png", 40, 40, 3)
	none := writePNG(t, dir, "none.png", 40, 40, 4)
	bad := filepath.Join(dir, "bad.png")
	os.WriteFile(bad, []byte("nope"), 0o644)
	ctx := context.Background()

	res, err := Match(ctx, fake, cfg, a, a)
	if err != nil || !res.Match || *res.Similarity != 1 || *res.Threshold != cfg.MatchThreshold {
		t.Errorf("same: %+v %v", res, err)
	}
	cfg.MatchThreshold = 0.7
	res, err = Match(ctx, fake, cfg, a, b) // cosine 0.6, and liveness of b is not checked
	if err != nil || res.Match || *res.Similarity != 0.6 || res.Reason != "" {
		t.Errorf("different: %+v %v", res, err)
	}
	for _, c := range []struct {
		x, y       string
		reason     inference.Decision
		file       string
		unreadable bool
	}{
		{a, two, inference.DecisionMultipleFaces, two, false},
		{none, a, inference.DecisionNoFace, none, false},
		{a, bad, inference.DecisionDecodeError, bad, true},
	} {
		res, err := Match(ctx, fake, cfg, c.x, c.y)
		if err != nil || res.Match || res.Reason != c.reason || res.File != c.file || res.Unreadable != c.unreadable || res.Similarity != nil {
			t.Errorf("%s vs %s: %+v %v", c.x, c.y, res, err)
		}
	}
	js, _ := json.Marshal(MatchResult{Reason: inference.DecisionNoFace, File: "f.jpg"})
	if string(js) != `{"match":false,"reason":"NO_FACE","file":"f.jpg"}` {
		t.Errorf("reason JSON %s", js)
	}
}

func TestAnnotate(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 200, 100))
	an := inferencetest.OneFace(200, 100, 0.9, e1, inference.Options{Liveness: true})
	an.Faces[0].Landmarks = []inference.Point{{X: 100, Y: 50}}
	out := Annotate(img, an)
	if out.Rect != img.Rect {
		t.Fatalf("bounds %v", out.Rect)
	}
	if c := out.RGBAAt(int(an.Faces[0].Box.X), 60); c != colSubject {
		t.Errorf("box edge %v, want subject colour", c)
	}
	if c := out.RGBAAt(100, 50); c != colMark {
		t.Errorf("landmark %v, want mark colour", c)
	}
	if c := img.RGBAAt(100, 50); c != (color.RGBA{}) {
		t.Error("input modified")
	}
	dir := t.TempDir()
	used := map[string]bool{}
	p1, err := WriteAnnotated(dir, "/x/a.jpg", img, an, used)
	p2, err2 := WriteAnnotated(dir, "/y/a.png", img, an, used)
	if err != nil || err2 != nil || filepath.Base(p1) != "a.png" || filepath.Base(p2) != "a-1.png" {
		t.Fatalf("paths %s %s %v %v", p1, p2, err, err2)
	}
	f, _ := os.Open(p1)
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("written file: %v", err)
	}
}
