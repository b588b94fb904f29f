package eval

import (
	"bytes"
	"context"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/inference"
)

func TestNewRate(t *testing.T) {
	for _, tc := range []struct {
		name           string
		errors, n      int
		value, upper95 float64
	}{
		{"nothing measured", 0, 0, 0, 1},
		{"no error: rule of three", 0, 30, 0, 0.1},
		{"no error on tiny set caps at 1", 0, 2, 0, 1},
		{"one error in ten: Clopper-Pearson", 1, 10, 0.1, 0.3942},
		{"all wrong", 10, 10, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRate(tc.errors, tc.n)
			if r.Value != tc.value || math.Abs(r.Upper95-tc.upper95) > 1e-4 {
				t.Errorf("NewRate(%d, %d) = %+v, want value %v upper %v", tc.errors, tc.n, r, tc.value, tc.upper95)
			}
		})
	}
}

func TestEqualError(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pos, neg  []float64
		rate      float64
		separable bool
	}{
		{"separable", []float64{0.5, 0.7}, []float64{-0.1, 0.2}, 0, true},
		{"overlap", []float64{0.2, 0.5, 0.8}, []float64{0.1, 0.3, 0.6}, 1.0 / 3, false},
		{"identical", []float64{0.5}, []float64{0.5}, 0.5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := equalError(tc.pos, tc.neg)
			if !e.Measured || e.Separable != tc.separable || math.Abs(e.Rate-tc.rate) > 1e-9 {
				t.Errorf("equalError = %+v, want rate %v separable %v", e, tc.rate, tc.separable)
			}
			if tc.separable && (e.Lo <= tc.neg[len(tc.neg)-1] || e.Hi != tc.pos[0]) {
				t.Errorf("error-free interval %v–%v does not lie between the classes", e.Lo, e.Hi)
			}
		})
	}
	if e := equalError(nil, []float64{1}); e.Measured {
		t.Errorf("EER of an empty class = %+v, want unmeasured", e)
	}
}

func TestAtFalseAccept(t *testing.T) {
	neg := make([]float64, 300)
	for i := range neg {
		neg[i] = float64(i) / 300
	}
	pos := []float64{0.5, 0.98, 0.99, 0.995}
	a := atFalseAccept(pos, neg, 0.01)
	if !a.Measured {
		t.Fatalf("300 negatives should measure FMR 1e-2: %+v", a)
	}
	if got := float64(accepted(neg, a.Threshold)) / 300; got > 0.01 {
		t.Errorf("FMR at the chosen threshold %v = %v, above the target", a.Threshold, got)
	}
	if got := float64(accepted(neg, math.Nextafter(a.Threshold, -1))); got/300 <= 0.01 && a.Threshold > neg[0] {
		// The threshold must be the lowest one meeting the target.
		t.Errorf("a lower threshold also meets the target (%v accepted)", got)
	}
	if a.FalseReject.Errors != 2 || a.FalseReject.N != 4 {
		t.Errorf("FNMR at FMR 1e-2 = %+v, want 2/4 (0.5 and 0.98 lie below the threshold)", a.FalseReject)
	}
	if b := atFalseAccept(pos, neg, 0.001); b.Measured || b.Needed != 3000 {
		t.Errorf("300 negatives cannot show FMR 1e-3: %+v", b)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

const testLabels = `file,person,live,faces,notes
identity/a1.png,person_a,na,1,
identity/a2.png,person_a,na,1,
identity/b1.png,person_b,na,1,
liveness/live.png,person_f,live,1,bona fide
liveness/print.png,person_g,spoof,1,PRINT attack: paper photo
liveness/screen.png,person_h,spoof,1,"REPLAY attack: tablet"
liveness/mask.png,person_l,spoof,1,"3D MASK; NEAR-INFRARED frame"
liveness/sim.png,person_e,spoof_synthetic,1,SYNTHETIC print simulation
hard/two.png,person_a;person_b,na,2,two people
`

func TestLoadSet(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "labels.csv"), []byte(testLabels))
	set, err := LoadSet(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if set.PairsFrom != "all pairs" || len(set.Pairs) != 3 {
		t.Fatalf("without pairs.csv: %s, %d pairs, want all 3 pairs of the identity images", set.PairsFrom, len(set.Pairs))
	}
	genuine := 0
	for _, p := range set.Pairs {
		if p.Same {
			genuine++
		}
	}
	if genuine != 1 {
		t.Errorf("%d genuine pairs, want 1 (a1–a2)", genuine)
	}
	want := map[string]Sample{
		"liveness/print.png":  {Live: LabelSpoof, Attack: AttackPrint},
		"liveness/screen.png": {Live: LabelSpoof, Attack: AttackReplay},
		"liveness/mask.png":   {Live: LabelSpoof, Attack: AttackMask, NIR: true},
		"liveness/sim.png":    {Live: LabelSynthetic, Attack: AttackPrint},
		"hard/two.png":        {Live: LabelNA},
	}
	for _, s := range set.Samples {
		w, ok := want[s.File]
		if !ok {
			continue
		}
		if s.Live != w.Live || s.Attack != w.Attack || s.NIR != w.NIR {
			t.Errorf("%s: %+v, want %+v", s.File, s, w)
		}
		if s.File == "hard/two.png" && s.Person != "" {
			t.Errorf("an image of two people has person %q, want none", s.Person)
		}
	}

	writeFile(t, filepath.Join(dir, "pairs.csv"), []byte("file1,file2,same,notes\nidentity/a1.png,identity/b1.png,0,\n"))
	if set, err = LoadSet(dir, false); err != nil || set.PairsFrom != "pairs.csv" || len(set.Pairs) != 1 || set.Pairs[0].Same {
		t.Errorf("with pairs.csv: %+v, %v", set.Pairs, err)
	}
	if set, err = LoadSet(dir, true); err != nil || len(set.Pairs) != 3 {
		t.Errorf("--all-pairs ignores pairs.csv: %d pairs, %v", len(set.Pairs), err)
	}
	writeFile(t, filepath.Join(dir, "pairs.csv"), []byte("file1,file2,same\nidentity/a1.png,identity/b1.png,maybe\n"))
	if _, err := LoadSet(dir, false); err == nil || !strings.Contains(err.Error(), "pairs.csv:2") {
		t.Errorf("bad same value: %v, want an error naming the line", err)
	}
}

func TestLoadSetFolders(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"ann/1.jpg", "ann/2.png", "bob/1.jpeg", "bob/notes.txt", "cid/x.JPG"} {
		writeFile(t, filepath.Join(dir, f), []byte("x"))
	}
	set, err := LoadSet(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Samples) != 4 || len(set.Pairs) != 6 {
		t.Errorf("%d samples, %d pairs; want 4 images and all 6 pairs", len(set.Samples), len(set.Pairs))
	}
	if _, err := LoadSet(t.TempDir(), false); err == nil {
		t.Error("an empty directory loaded without error")
	}
}

// mix is a unit embedding with cosine c to E(i), the rest along E(j).
func mix(i int, c float64, j int) []float32 {
	e := gatewaytest.E(i)
	e[i] = float32(c)
	e[j] = float32(math.Sqrt(1 - c*c))
	return e
}

func withLiveness(a inference.Analysis, p float64) inference.Analysis {
	a.Faces = append([]inference.Face(nil), a.Faces...)
	a.Faces[0].Liveness, a.Faces[0].Live = p, p >= 0.6
	if p < 0.6 {
		a.Decision = inference.DecisionLivenessFailed
	} else {
		a.Decision = inference.DecisionOK
	}
	return a
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "labels.csv"), []byte(testLabels))
	colors := map[string]color.RGBA{}
	an := gatewaytest.NewAnalyzer()
	script := []struct {
		file string
		a    inference.Analysis
	}{
		{"identity/a1.png", gatewaytest.Live(gatewaytest.E(0))},
		{"identity/a2.png", gatewaytest.Live(mix(0, 0.7, 100))},
		{"identity/b1.png", gatewaytest.Live(mix(0, 0.1, 200))},
		{"liveness/live.png", withLiveness(gatewaytest.Live(gatewaytest.E(5)), 0.9)},
		{"liveness/print.png", withLiveness(gatewaytest.Live(gatewaytest.E(6)), 0.02)},
		{"liveness/screen.png", withLiveness(gatewaytest.Live(gatewaytest.E(7)), 0.3)},
		{"liveness/mask.png", withLiveness(gatewaytest.Live(gatewaytest.E(8)), 0.97)},
		{"liveness/sim.png", withLiveness(gatewaytest.Live(gatewaytest.E(9)), 0.99)},
		{"hard/two.png", gatewaytest.NoFace()},
	}
	for i, s := range script {
		c := color.RGBA{uint8(10 + 20*i), 40, 90, 255}
		colors[s.file] = c
		an.Set(c, s.a)
		writeFile(t, filepath.Join(dir, filepath.FromSlash(s.file)), gatewaytest.PNG(c))
	}
	set, err := LoadSet(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg := inference.DefaultConfig()
	var progress bytes.Buffer
	rep, err := Run(context.Background(), an, cfg, set, Options{Progress: &progress, Jitter: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "eval: 1/") {
		t.Errorf("no progress lines: %q", progress.String())
	}
	m := rep.Match
	if m.Genuine.N != 1 || m.Impostor.N != 2 || math.Abs(m.Genuine.Min-0.7) > 1e-6 {
		t.Errorf("scores: genuine %+v impostor %+v", m.Genuine, m.Impostor)
	}
	if m.FMR.Errors != 0 || m.FNMR.Errors != 0 || math.Abs(m.FMR.Upper95-1) > 1e-9 {
		t.Errorf("at 0.35: FMR %+v FNMR %+v", m.FMR, m.FNMR)
	}
	l := rep.Liveness
	if l.BPCER.N != 1 || l.BPCER.Errors != 0 {
		t.Errorf("BPCER %+v, want 0/1", l.BPCER)
	}
	byType := map[string]Rate{}
	for _, a := range l.APCER {
		byType[a.Attack] = a.APCER
	}
	if byType[AttackPrint].N != 1 || byType[AttackReplay].N != 1 || byType[AttackMask].N != 0 {
		t.Errorf("APCER by type %+v: the NIR mask and the synthetic print must not be counted", byType)
	}
	if len(l.Apart) != 2 {
		t.Errorf("%d samples reported apart, want the NIR mask and the synthetic print", len(l.Apart))
	}
	if l.Margin == nil || math.Abs(*l.Margin-0.6) > 1e-9 {
		t.Errorf("margin %v, want 0.9 − 0.3", l.Margin)
	}
	if rep.Errors() != 0 {
		t.Errorf("%d errors at the defaults, want 0", rep.Errors())
	}
	// The fake's scores do not move with the crop: every counted sample
	// (live, print, screen) is scored under every jitter, with no spread.
	if j := rep.Jitter; j == nil || len(j.Samples) != 3 || j.N != 3*len(Jitters) || j.MaxRange != 0 ||
		j.Margin == nil || math.Abs(*j.Margin-0.6) > 1e-9 {
		t.Errorf("jitter report %+v, want 3 samples × %d crops, no spread, margin 0.6", j, len(Jitters))
	}
	// The capture is analysed without liveness, the selfie with the
	// gateway's options.
	for _, c := range an.Calls() {
		switch c.Color {
		case colors["liveness/live.png"]:
			o := c.Options
			o.LivenessJitter = inference.Jitter{}
			if o != gateway.SelfieOptions {
				t.Errorf("liveness sample analysed with %+v, want the selfie's options", c.Options)
			}
		case colors["identity/b1.png"]:
			if c.Options.Liveness {
				t.Errorf("identity image analysed with liveness: %+v", c.Options)
			}
		}
	}

	// Thresholds that make errors: one impostor pair at 0.1 ≥ 0.08 (the other at 0.07), the
	// screen replay at 0.3 ≥ 0.25.
	cfg.MatchThreshold, cfg.LivenessThreshold = 0.08, 0.25
	cfg.Embedder = inference.EmbedderMobileFaceNet // named in the report, not run (the analyzer is a fake)
	rep2, err := Run(context.Background(), an, cfg, set, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Match.FMR.Errors != 1 || rep2.Errors() != 2 {
		t.Errorf("at 0.08/0.25: FMR %+v, %d errors, want 1 false match and 1 accepted replay", rep2.Match.FMR, rep2.Errors())
	}

	var md bytes.Buffer
	reps := []Named{{"defaults", rep}, {"loose", rep2}}
	if err := WriteMarkdown(&md, reps); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Side by side", "APCER replay", "≤ 1 (3/N)", "no (near-infrared)", "no (synthetic)", "| 0.08 |",
		"| embedder | fr_feature | mobilefacenet |", "(embedder mobilefacenet)"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	out := t.TempDir()
	files, err := WritePlots(out, reps)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 6 {
		t.Errorf("wrote %v, want 2 DET plots and 2 histograms per configuration", files)
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// A labels.csv or pairs.csv naming files outside the set's folder is
// refused with the line and column, before any file is read.
func TestLoadSetPathsStayInside(t *testing.T) {
	for _, tc := range []struct {
		name, labels, pairs, want string
	}{
		{"parent in labels", "file,person,live\n../secret.jpg,a,live\n", "", "labels.csv:2: file"},
		{"absolute in labels", "file,person,live\na/1.jpg,a,live\n/etc/ssl/x.jpg,b,live\n", "", "labels.csv:3: file"},
		{"nested parent in labels", "file,person,live\na/../../x.png,a,live\n", "", "labels.csv:2: file"},
		{"parent in pairs", "file,person,live\na/1.jpg,a,live\n", "file1,file2,same\na/1.jpg,../../x.jpg,0\n", "pairs.csv:2: file2"},
		{"absolute in pairs", "file,person,live\na/1.jpg,a,live\n", "file1,file2,same\n/tmp/x.jpg,a/1.jpg,1\n", "pairs.csv:2: file1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "labels.csv"), []byte(tc.labels))
			if tc.pairs != "" {
				writeFile(t, filepath.Join(dir, "pairs.csv"), []byte(tc.pairs))
			}
			_, err := LoadSet(dir, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadSet: %v, want an error naming %q", err, tc.want)
			}
		})
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "labels.csv"), []byte("file,person,live\na/1.jpg,a,live\nb/./2.jpg,b,live\n"))
	if _, err := LoadSet(dir, false); err != nil {
		t.Errorf("paths inside the folder: %v", err)
	}
}
