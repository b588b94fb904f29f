// Package eval turns a labelled image set into the error rates of the
// gateway's two decisions: 1:1 matching (FMR, FNMR, EER, DET; ISO/IEC
// 19795-1 terms) and passive liveness (APCER per attack type, BPCER, ACER;
// ISO/IEC 30107-3 terms). Every image goes through the gateway's own decision
// path: inference.Decode with the configured limits, the configured
// inference.Analyzer with the options the gateway uses for a selfie and for a
// reference (gateway.SelfieOptions, gateway.ReferenceOptions), cosine
// similarity and the gateway's accept rules (gateway.MatchAccepted, a
// liveness probability at or above the threshold). It has no cgo:
// `facegateway eval` passes in the ONNX engine.
package eval

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Liveness labels of labels.csv (column live).
const (
	LabelLive      = "live"            // bona fide capture
	LabelSpoof     = "spoof"           // real presentation attack captured by a camera
	LabelSynthetic = "spoof_synthetic" // attack simulated by image processing
	LabelNA        = "na"              // not a liveness sample
)

// Attack types (presentation-attack instrument species) reported apart.
const (
	AttackPrint  = "print"
	AttackReplay = "replay"
	AttackMask   = "mask"
	AttackOther  = "other"
)

// Sample is one labelled image.
type Sample struct {
	// File is the path relative to the set directory, with slashes.
	File string `json:"file"`
	// Person is the identity label; "" when the image shows no labelled
	// person or several.
	Person string `json:"person,omitempty"`
	// Live is one of LabelLive, LabelSpoof, LabelSynthetic, LabelNA.
	Live string `json:"live"`
	// Attack is the attack type of a spoof (AttackPrint, …); "" otherwise.
	Attack string `json:"attack,omitempty"`
	// NIR marks a near-infrared frame: not RGB evidence, reported apart.
	NIR bool `json:"nir,omitempty"`
	// Faces is the labelled face count ("1", ">=2", "na", …).
	Faces string `json:"faces,omitempty"`
}

// Pair is one 1:1 comparison: Probe is analysed as a kiosk capture, Reference
// as the partner's reference image.
type Pair struct {
	Probe     string `json:"probe"`
	Reference string `json:"reference"`
	Same      bool   `json:"same"`
}

// Set is a labelled image set.
type Set struct {
	Dir     string
	Samples []Sample
	Pairs   []Pair
	// PairsFrom says where the pairs come from: "pairs.csv" or "all pairs".
	PairsFrom string
}

// ErrNoLabels means the directory holds neither labels.csv nor a folder per
// person with images in it.
var ErrNoLabels = errors.New("no labelled images (labels.csv or a folder per person)")

// LoadSet reads a labelled set from dir in one of two layouts:
//
//   - labels.csv (columns file, person, live, faces, notes) and optionally
//     pairs.csv (columns file1, file2, same with 1/0), the layout of
//     ../shared/testdata. The attack type of a spoof comes from its notes
//     ("PRINT", "REPLAY"/"screen", "MASK") or else its file name; notes
//     saying "near-infrared" mark an NIR frame.
//   - one folder per person (dir/<person>/*.jpg|png): identity samples only.
//
// Pairs come from pairs.csv, or, when allPairs is set or there is no
// pairs.csv, every pair of single-person identity samples (same person:
// genuine; different persons: impostor), each unordered pair once.
func LoadSet(dir string, allPairs bool) (Set, error) {
	set := Set{Dir: dir}
	var err error
	if _, statErr := os.Stat(filepath.Join(dir, "labels.csv")); statErr == nil {
		set.Samples, err = readLabels(filepath.Join(dir, "labels.csv"))
	} else {
		set.Samples, err = readFolders(dir)
	}
	if err != nil {
		return set, err
	}
	if len(set.Samples) == 0 {
		return set, fmt.Errorf("%s: %w", dir, ErrNoLabels)
	}
	pairsPath := filepath.Join(dir, "pairs.csv")
	if _, statErr := os.Stat(pairsPath); statErr == nil && !allPairs {
		set.Pairs, err = readPairs(pairsPath)
		set.PairsFrom = "pairs.csv"
		return set, err
	}
	set.Pairs, set.PairsFrom = AllPairs(set.Samples), "all pairs"
	return set, nil
}

// readCSV reads a CSV file with a header row into maps keyed by column.
func readCSV(path string, need ...string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(strings.ToLower(h))] = i
	}
	for _, n := range need {
		if _, ok := col[n]; !ok {
			return nil, fmt.Errorf("%s: no column %q", path, n)
		}
	}
	var rows []map[string]string
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		row := map[string]string{}
		for name, i := range col {
			if i < len(rec) {
				row[name] = strings.TrimSpace(rec[i])
			}
		}
		if row[need[0]] == "" {
			return nil, fmt.Errorf("%s:%d: empty %s", path, line, need[0])
		}
		rows = append(rows, row)
	}
}

func readLabels(path string) ([]Sample, error) {
	rows, err := readCSV(path, "file", "person", "live")
	if err != nil {
		return nil, err
	}
	out := make([]Sample, 0, len(rows))
	for i, r := range rows {
		s := Sample{File: filepath.ToSlash(r["file"]), Live: strings.ToLower(r["live"]), Faces: r["faces"]}
		if err := inSet(path, i+2, "file", r["file"]); err != nil {
			return nil, err
		}
		switch s.Live {
		case LabelLive, LabelSpoof, LabelSynthetic, LabelNA:
		case "":
			s.Live = LabelNA
		default:
			return nil, fmt.Errorf("%s:%d: live %q is not live, spoof, spoof_synthetic or na", path, i+2, r["live"])
		}
		if p := r["person"]; p != "" && p != "none" && p != "others" && !strings.Contains(p, ";") {
			s.Person = p
		}
		notes := strings.ToLower(r["notes"])
		if s.Live == LabelSpoof || s.Live == LabelSynthetic {
			s.Attack = attackType(notes, strings.ToLower(filepath.Base(s.File)))
		}
		s.NIR = strings.Contains(notes, "near-infrared") || strings.Contains(notes, "near infrared")
		out = append(out, s)
	}
	return out, nil
}

// inSet checks that a file named in a CSV of the set (column col of line
// line) stays inside the set's folder: a relative path without "..", so a
// hostile labels.csv or pairs.csv cannot make the evaluation read files
// elsewhere (/etc/…, ../other/…). Symbolic links inside the folder are
// followed as they are.
func inSet(csvPath string, line int, col, name string) error {
	if !filepath.IsLocal(filepath.FromSlash(name)) {
		return fmt.Errorf("%s:%d: %s %q is not a relative path inside the set's folder", csvPath, line, col, name)
	}
	return nil
}

// attackType names the attack from the notes, else from the file name.
func attackType(notes, name string) string {
	for _, text := range []string{notes, name} {
		switch {
		case strings.Contains(text, "print"):
			return AttackPrint
		case strings.Contains(text, "replay"), strings.Contains(text, "screen"):
			return AttackReplay
		case strings.Contains(text, "mask"):
			return AttackMask
		}
	}
	return AttackOther
}

func readPairs(path string) ([]Pair, error) {
	rows, err := readCSV(path, "file1", "file2", "same")
	if err != nil {
		return nil, err
	}
	out := make([]Pair, 0, len(rows))
	for i, r := range rows {
		p := Pair{Probe: filepath.ToSlash(r["file1"]), Reference: filepath.ToSlash(r["file2"])}
		for _, c := range []string{"file1", "file2"} {
			if err := inSet(path, i+2, c, r[c]); err != nil {
				return nil, err
			}
		}
		switch r["same"] {
		case "1", "true", "yes":
			p.Same = true
		case "0", "false", "no":
		default:
			return nil, fmt.Errorf("%s:%d: same %q is not 1 or 0", path, i+2, r["same"])
		}
		out = append(out, p)
	}
	return out, nil
}

// imageExt reports whether name is a JPEG or PNG file name.
func imageExt(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

func readFolders(dir string) ([]Sample, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Sample
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if f.Type().IsRegular() && imageExt(f.Name()) {
				out = append(out, Sample{File: e.Name() + "/" + f.Name(), Person: e.Name(), Live: LabelNA, Faces: "1"})
			}
		}
	}
	return out, nil
}

// AllPairs returns every unordered pair of identity samples (Live na, one
// labelled person, one face), in file order: the earlier file is the probe.
func AllPairs(samples []Sample) []Pair {
	var ids []Sample
	for _, s := range samples {
		if s.Live == LabelNA && s.Person != "" && (s.Faces == "1" || s.Faces == "") {
			ids = append(ids, s)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].File < ids[j].File })
	var out []Pair
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			out = append(out, Pair{Probe: ids[i].File, Reference: ids[j].File, Same: ids[i].Person == ids[j].Person})
		}
	}
	return out
}
