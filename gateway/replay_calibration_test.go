package gateway

import (
	"context"
	"encoding/csv"
	"image"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/onnx"
)

// replayTestdata finds ../shared/testdata above the package directory, or
// skips the test.
func replayTestdata(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		cand := filepath.Join(dir, "shared", "testdata")
		if _, err := os.Stat(filepath.Join(cand, "pairs.csv")); err == nil {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("labelled photos not found: place them in ../shared/testdata next to the repository root")
		}
		dir = parent
	}
}

var (
	replayEngOnce sync.Once
	replayEng     *onnx.Engine
	replayEngErr  error
)

// replayEngine is the ONNX engine on the repository's models directory, or
// skips the test when the models have not been fetched.
func replayEngine(t testing.TB) *onnx.Engine {
	t.Helper()
	replayEngOnce.Do(func() {
		cfg := inference.DefaultConfig()
		cfg.ModelsDir = filepath.Join("..", "models")
		replayEng, replayEngErr = onnx.New(cfg, nil)
	})
	if replayEngErr != nil {
		t.Skipf("models not available (run `make models`): %v", replayEngErr)
	}
	return replayEng
}

// analysed is one photo as the gateway sees it.
type analysed struct {
	name     string
	img      *image.RGBA
	decision inference.Decision
	face     inference.Face
	ok       bool // a subject face with an aligned crop and embedding
}

func analyseImage(t testing.TB, eng inference.Analyzer, name string, img *image.RGBA) analysed {
	t.Helper()
	a, err := eng.Analyze(context.Background(), img, inference.Options{Liveness: true, Embed: true})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out := analysed{name: name, img: img, decision: a.Decision}
	if f, ok := subject(a); ok && f.Aligned != nil && len(f.Embedding) > 0 {
		out.face, out.ok = f, true
	}
	return out
}

func analyseFile(t testing.TB, eng inference.Analyzer, td, name string) analysed {
	t.Helper()
	f, err := os.Open(filepath.Join(td, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := inference.Decode(f, inference.DefaultConfig().MaxPixels)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return analyseImage(t, eng, name, inference.ToOpaqueRGBA(img, nil))
}

// editMaxPixels bounds the photos the edits are made from.
const editMaxPixels = 1_200_000

// raceMaxPixels: under the race detector (make test) only the edits of the
// identity photos up to this size are made (person_c, person_d, person_e:
// 50 edits), so the package's tests stay within their timeout on a busy
// machine; `go test ./gateway -run Calibration -v` makes all 110.
const raceMaxPixels = 300_000

// replayRow is one selfie compared with one reference.
type replayRow struct {
	group, selfie, ref string
	decision           inference.Decision // the selfie's
	ev                 replayEvidence
	replay             bool
	signals            []string
	// subDist is the distance the submission-replay check measures:
	// the earlier selfie's hash against the new one and its mirror.
	subDist int
}

func compare(group string, selfie, ref analysed) replayRow {
	r := replayRow{group: group, selfie: selfie.name, ref: ref.name, decision: selfie.decision, subDist: -1}
	ev, ok := referenceEvidence(selfie.face, ref.face, ref.img, 0)
	if !ok {
		return r
	}
	r.ev = ev
	r.replay, r.signals = ev.copied()
	s, _ := newFaceprint(selfie.face)
	p, _ := newFaceprint(ref.face)
	r.subDist = min(p.hash.Distance(s.hash), p.hash.Distance(s.mirrored))
	return r
}

// TestReferenceReplayCalibration measures the reference-replay signals on
// ../shared/testdata with the pinned models and checks the decision:
// no genuine same-person pair (every ordered pair of identity/, which
// includes the same-person rows of pairs.csv) is refused, and every
// generated edit of every identity photo, and every copy the set itself
// holds, is. Run with -v for the table.
func TestReferenceReplayCalibration(t *testing.T) {
	td := replayTestdata(t)
	eng := replayEngine(t)
	if testing.Short() {
		t.Skip("analyses ~130 images")
	}

	labels := readReplayCSV(t, filepath.Join(td, "labels.csv"))
	person := map[string]string{}
	var identity []string
	for _, l := range labels[1:] {
		person[l[0]] = l[1]
		if strings.HasPrefix(l[0], "identity/") {
			identity = append(identity, l[0])
		}
	}
	photos := map[string]analysed{}
	for _, name := range identity {
		photos[name] = analyseFile(t, eng, td, name)
		if !photos[name].ok {
			t.Fatalf("%s: no usable face (%s)", name, photos[name].decision)
		}
	}

	var rows []replayRow
	// Genuine: every ordered pair of two photos of one person.
	genuine := map[[2]string]bool{}
	for _, a := range identity {
		for _, b := range identity {
			if a != b && person[a] == person[b] {
				rows = append(rows, compare("genuine", photos[a], photos[b]))
				genuine[[2]string{a, b}] = true
			}
		}
	}
	for _, p := range readReplayCSV(t, filepath.Join(td, "pairs.csv"))[1:] {
		if p[2] == "1" && !genuine[[2]string{p[0], p[1]}] {
			t.Errorf("pairs.csv same-person pair %s %s is not among the identity/ pairs", p[0], p[1])
		}
	}
	// Edits of every identity photo, each against its original as the
	// reference. Photos over editMaxPixels are first scaled down to it (the
	// scaled photo is then the reference), which keeps the test fast under
	// the race detector; alignment makes the checks independent of scale.
	for _, name := range identity {
		orig := photos[name]
		if raceDetector && orig.img.Rect.Dx()*orig.img.Rect.Dy() > raceMaxPixels {
			continue // see raceMaxPixels
		}
		if px := orig.img.Rect.Dx() * orig.img.Rect.Dy(); px > editMaxPixels {
			orig = analyseImage(t, eng, name+"@1.2MP", scaleImage(orig.img, math.Sqrt(float64(editMaxPixels)/float64(px))))
			if !orig.ok {
				t.Fatalf("%s: no usable face (%s)", orig.name, orig.decision)
			}
		}
		for _, e := range replayEdits {
			ed := analyseImage(t, eng, name+"#"+e.name, e.fn(orig.img))
			if !ed.ok {
				t.Logf("%s: no face after the edit (%s), nothing to compare", ed.name, ed.decision)
				continue
			}
			rows = append(rows, compare("edit", ed, orig))
		}
	}
	// Copies the set holds (labels.csv notes).
	for _, c := range [][2]string{
		{"hard/rgba_alpha_opaque.png", "identity/person_a_02.jpg"},
		{"hard/grayscale.jpg", "identity/person_e_01.png"},
		{"hard/exif_orientation_8.jpg", "identity/person_e_01.png"},
		{"liveness/spoof_sim_screen_01.jpg", "identity/person_e_01.png"},
	} {
		rows = append(rows, compare("copy", analyseFile(t, eng, td, c[0]), photos[c[1]]))
	}
	// Two genuine captures of one person in one session: reported, not
	// asserted (see README).
	rows = append(rows, compare("same_session", analyseFile(t, eng, td, "liveness/live_03.jpg"), analyseFile(t, eng, td, "liveness/live_02.jpg")))

	for _, r := range rows {
		t.Logf("%-12s %-44s ref %-28s %-15s phash %2d  corr %6.3f  cos %6.3f  sub %2d  replay %-5v %s",
			r.group, r.selfie, r.ref, r.decision, r.ev.Distance, r.ev.Correlation, r.ev.Cosine, r.subDist, r.replay, strings.Join(r.signals, ","))
		switch r.group {
		case "genuine":
			if r.replay {
				t.Errorf("genuine pair %s / %s refused as REFERENCE_REPLAY (%v)", r.selfie, r.ref, r.signals)
			}
			if r.subDist <= defaultReplayConfig().MaxDistance {
				t.Errorf("genuine pair %s / %s within %d bits: would be SUBMISSION_REPLAY", r.selfie, r.ref, r.subDist)
			}
		case "edit", "copy":
			if !r.replay {
				t.Errorf("%s (%s) against %s not detected: phash %d corr %.3f cos %.3f", r.selfie, r.decision, r.ref, r.ev.Distance, r.ev.Correlation, r.ev.Cosine)
			}
		}
	}
	summarise(t, rows)
}

// summarise logs the range of each signal per group and the detection
// counts, as quoted in the README.
func summarise(t *testing.T, rows []replayRow) {
	groups := map[string][]replayRow{}
	for _, r := range rows {
		groups[r.group] = append(groups[r.group], r)
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		rs := groups[g]
		minD, maxD, minS, maxS := 64, 0, 64, 0
		minC, maxC, minCos, maxCos := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
		refused, sub := 0, 0
		for _, r := range rs {
			minD, maxD = min(minD, r.ev.Distance), max(maxD, r.ev.Distance)
			minS, maxS = min(minS, r.subDist), max(maxS, r.subDist)
			minC, maxC = math.Min(minC, r.ev.Correlation), math.Max(maxC, r.ev.Correlation)
			minCos, maxCos = math.Min(minCos, r.ev.Cosine), math.Max(maxCos, r.ev.Cosine)
			if r.replay {
				refused++
			}
			if r.subDist <= defaultReplayConfig().MaxDistance {
				sub++
			}
		}
		t.Logf("SUMMARY %-12s n=%3d  phash %2d–%2d bits  corr %.3f–%.3f  cos %.3f–%.3f  REFERENCE_REPLAY %d/%d  submission hash %d–%d bits, ≤%d: %d/%d",
			g, len(rs), minD, maxD, minC, maxC, minCos, maxCos, refused, len(rs), minS, maxS, defaultReplayConfig().MaxDistance, sub, len(rs))
	}
}

func readReplayCSV(t testing.TB, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(rows) < 2 {
		t.Fatalf("%s: no rows", path)
	}
	return rows
}
