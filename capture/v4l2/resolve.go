package v4l2

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/faceverify/faceverify/capture"
)

// ByIDDir is where udev publishes stable camera names
// (usb-<vendor>_<product>_<serial>-video-index<N>), relative to the root.
const ByIDDir = "dev/v4l/by-id"

// Resolved is a camera name resolved to its device node.
type Resolved struct {
	// Path is the video device node, e.g. "/dev/video2" (under the root
	// when the root is not "/").
	Path string
	// ByID is the /dev/v4l/by-id name that led to it, if any.
	ByID string
}

var videoNode = regexp.MustCompile(`^video[0-9]+$`)

// Resolve finds the device node for spec under root ("" or "/" for the real
// filesystem; tests pass a fake tree, as node_exporter's --path.sysfs):
//
//   - an absolute path ("/dev/video0", "/dev/v4l/by-id/usb-…-video-index0",
//     "/dev/v4l/by-path/…"), with one level of symlink followed;
//   - a bare node name ("video0");
//   - otherwise a case-insensitive substring of a /dev/v4l/by-id name
//     ("C920", "046d_0825"): when several names match, the "-video-index0"
//     ones (the capture node of a UVC camera) are preferred; matches that
//     lead to more than one device are an error.
//
// Resolve is cheap and is called at every Open, so a camera re-plugged
// under another /dev/videoN is found by its by-id name. Errors:
// capture.ErrNoDevice (wrapped) when nothing matches or the node is
// missing; a plain error for an ambiguous name.
func Resolve(root, spec string) (Resolved, error) {
	if root == "" {
		root = "/"
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return Resolved{}, errors.New("camera device name is empty")
	}
	if filepath.IsAbs(spec) {
		return resolvePath(root, filepath.Join(root, spec), spec)
	}
	if videoNode.MatchString(spec) {
		return resolvePath(root, filepath.Join(root, "dev", spec), "")
	}
	dir := filepath.Join(root, ByIDDir)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Resolved{}, fmt.Errorf("list %s: %w", dir, err)
	}
	var matches, index0 []string
	low := strings.ToLower(spec)
	for _, e := range entries {
		if strings.Contains(strings.ToLower(e.Name()), low) {
			matches = append(matches, e.Name())
			if strings.HasSuffix(e.Name(), "-video-index0") {
				index0 = append(index0, e.Name())
			}
		}
	}
	if len(index0) > 0 {
		matches = index0
	}
	if len(matches) == 0 {
		return Resolved{}, fmt.Errorf("no %s name contains %q: %w", "/"+ByIDDir, spec, capture.ErrNoDevice)
	}
	sort.Strings(matches)
	var first Resolved
	targets := map[string]bool{}
	for i, m := range matches {
		r, err := resolvePath(root, filepath.Join(dir, m), "")
		if err != nil {
			return Resolved{}, err
		}
		r.ByID = m
		if i == 0 {
			first = r
		}
		targets[r.Path] = true
	}
	if len(targets) > 1 {
		return Resolved{}, fmt.Errorf("camera name %q is ambiguous: matches %s", spec, strings.Join(matches, ", "))
	}
	return first, nil
}

// resolvePath follows one level of symlink from p (a path under root) and
// checks the target exists. A by-id or by-path spec is remembered as ByID.
func resolvePath(root, p, spec string) (Resolved, error) {
	r := Resolved{Path: p}
	if strings.Contains(spec, "/v4l/") {
		r.ByID = filepath.Base(spec)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Resolved{}, fmt.Errorf("%s: %w", display(root, p), capture.ErrNoDevice)
		}
		return Resolved{}, fmt.Errorf("%s: %w", display(root, p), err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, err := os.Readlink(p)
		if err != nil {
			return Resolved{}, fmt.Errorf("%s: %w", display(root, p), err)
		}
		if filepath.IsAbs(t) {
			t = filepath.Join(root, t)
		} else {
			t = filepath.Join(filepath.Dir(p), t)
		}
		if _, err := os.Stat(t); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return Resolved{}, fmt.Errorf("%s → %s: %w", display(root, p), display(root, t), capture.ErrNoDevice)
			}
			return Resolved{}, fmt.Errorf("%s: %w", display(root, t), err)
		}
		r.Path = filepath.Clean(t)
	}
	return r, nil
}

// display shows p as a path on the device (root stripped).
func display(root, p string) string {
	if root == "/" {
		return p
	}
	if rel, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(rel, "..") {
		return "/" + rel
	}
	return p
}

// ByIDNames maps each device node under root to its /dev/v4l/by-id names
// (sorted). A missing by-id directory yields an empty map.
func ByIDNames(root string) map[string][]string {
	if root == "" {
		root = "/"
	}
	out := map[string][]string{}
	dir := filepath.Join(root, ByIDDir)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		r, err := resolvePath(root, filepath.Join(dir, e.Name()), "")
		if err != nil {
			continue
		}
		out[r.Path] = append(out[r.Path], e.Name())
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// VideoNodes lists the /dev/video* nodes under root, in numeric order.
func VideoNodes(root string) ([]string, error) {
	if root == "" {
		root = "/"
	}
	entries, err := os.ReadDir(filepath.Join(root, "dev"))
	if err != nil {
		return nil, err
	}
	var nodes []string
	for _, e := range entries {
		if videoNode.MatchString(e.Name()) {
			nodes = append(nodes, filepath.Join(root, "dev", e.Name()))
		}
	}
	sort.Slice(nodes, func(i, j int) bool {
		a, b := nodes[i], nodes[j]
		if len(a) != len(b) {
			return len(a) < len(b)
		}
		return a < b
	})
	return nodes, nil
}
