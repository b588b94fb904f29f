package v4l2

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// DeviceInfo describes one video node for `faceagent camera list`.
type DeviceInfo struct {
	Path    string       `json:"path"`            // e.g. /dev/video0
	ByID    []string     `json:"by_id,omitempty"` // /dev/v4l/by-id names pointing at it
	Driver  string       `json:"driver,omitempty"`
	Card    string       `json:"card,omitempty"`
	Bus     string       `json:"bus,omitempty"`
	Formats []FormatInfo `json:"formats,omitempty"`
	// Err says why the node could not be queried (not a capture node, busy,
	// permission); the other fields may then be empty.
	Err string `json:"error,omitempty"`
}

// FormatInfo is one pixel format with its frame sizes.
type FormatInfo struct {
	FourCC      string     `json:"fourcc"`
	Description string     `json:"description"`
	Decodable   bool       `json:"decodable"` // MJPG or YUYV
	Sizes       []SizeInfo `json:"sizes,omitempty"`
}

// SizeInfo is one frame size (or range) with its frame rates, frames per
// second, highest first ("7.5" or "[1-30]" for ranges).
type SizeInfo struct {
	Size string   `json:"size"`
	FPS  []string `json:"fps,omitempty"`
}

// List queries every /dev/video* node under root ("" is "/").
func List(root string) ([]DeviceInfo, error) {
	return list(root, openWebcam)
}

func list(root string, open func(string) (device, error)) ([]DeviceInfo, error) {
	nodes, err := VideoNodes(root)
	if err != nil {
		return nil, err
	}
	ids := ByIDNames(root)
	var out []DeviceInfo
	for _, n := range nodes {
		di := DeviceInfo{Path: display(rootOr(root), n), ByID: ids[n]}
		dev, err := open(n)
		if err != nil {
			di.Err = err.Error()
			out = append(out, di)
			continue
		}
		describe(dev, &di)
		dev.close()
		out = append(out, di)
	}
	return out, nil
}

func rootOr(root string) string {
	if root == "" {
		return "/"
	}
	return root
}

// describe fills di from an open device.
func describe(dev device, di *DeviceInfo) {
	if info, err := dev.info(); err == nil {
		di.Driver, di.Card, di.Bus = info.Driver, info.Card, info.Bus
	} else {
		di.Err = err.Error()
	}
	adv := append([]Advertised(nil), dev.formats()...)
	sortAdvertised(adv)
	for _, a := range adv {
		fi := FormatInfo{FourCC: a.FourCC.String(), Description: a.Description, Decodable: Supported(a.FourCC)}
		for _, r := range a.Sizes {
			si := SizeInfo{Size: r.String()}
			if r.MinW == r.MaxW && r.MinH == r.MaxH {
				si.FPS = rates(dev.intervals(a.FourCC, r.MaxW, r.MaxH))
			}
			fi.Sizes = append(fi.Sizes, si)
		}
		di.Formats = append(di.Formats, fi)
	}
}

// rates renders frame intervals as rates, highest first, deduplicated.
func rates(ivs []Interval) []string {
	type rate struct {
		v float64
		s string
	}
	var rs []rate
	seen := map[string]bool{}
	for _, iv := range ivs {
		lo, hi, ok := iv.FPSRange()
		if !ok {
			continue
		}
		s := fmtFPS(hi)
		if lo != hi {
			s = "[" + fmtFPS(lo) + "-" + fmtFPS(hi) + "]"
		}
		if !seen[s] {
			seen[s] = true
			rs = append(rs, rate{hi, s})
		}
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].v > rs[j].v })
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.s
	}
	return out
}

func fmtFPS(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// String renders di as the indented text `faceagent camera list` prints.
func (di DeviceInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", di.Path)
	if di.Card != "" || di.Driver != "" {
		fmt.Fprintf(&b, "  %s (driver %s, bus %s)", di.Card, di.Driver, di.Bus)
	}
	b.WriteByte('\n')
	for _, id := range di.ByID {
		fmt.Fprintf(&b, "  by-id: /%s/%s\n", ByIDDir, id)
	}
	if di.Err != "" {
		fmt.Fprintf(&b, "  error: %s\n", di.Err)
	}
	for _, f := range di.Formats {
		mark := ""
		if !f.Decodable {
			mark = " (not decoded by faceagent)"
		}
		fmt.Fprintf(&b, "  %s  %s%s\n", f.FourCC, f.Description, mark)
		for _, s := range f.Sizes {
			if len(s.FPS) > 0 {
				fmt.Fprintf(&b, "    %-12s %s fps\n", s.Size, strings.Join(s.FPS, ", "))
			} else {
				fmt.Fprintf(&b, "    %s\n", s.Size)
			}
		}
	}
	return b.String()
}
