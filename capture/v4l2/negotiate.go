package v4l2

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// FourCC is a V4L2 pixel format code: four ASCII characters packed little
// endian, as in linux/videodev2.h (v4l2_fourcc).
type FourCC uint32

// Pixel formats this package decodes.
const (
	MJPG FourCC = 'M' | 'J'<<8 | 'P'<<16 | 'G'<<24 // Motion-JPEG (also UVC "MJPEG")
	YUYV FourCC = 'Y' | 'U'<<8 | 'Y'<<16 | 'V'<<24 // packed YUV 4:2:2, Y0 U Y1 V
)

// ParseFourCC parses a four-character code such as "MJPG" or "YUYV"
// (case-insensitive; "MJPEG" is accepted for MJPG).
func ParseFourCC(s string) (FourCC, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if u == "MJPEG" {
		u = "MJPG"
	}
	if len(u) != 4 {
		return 0, fmt.Errorf("fourcc %q: must be four characters", s)
	}
	return FourCC(u[0]) | FourCC(u[1])<<8 | FourCC(u[2])<<16 | FourCC(u[3])<<24, nil
}

// String returns the four characters, e.g. "YUYV"; unprintable bytes as '?'.
func (f FourCC) String() string {
	b := []byte{byte(f), byte(f >> 8), byte(f >> 16), byte(f >> 24)}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return strings.TrimRight(string(b), " ")
}

// Supported reports whether this package can decode f (MJPG or YUYV).
func Supported(f FourCC) bool { return f == MJPG || f == YUYV }

// SizeRange is one frame size entry of VIDIOC_ENUM_FRAMESIZES, in pixels:
// discrete when Min == Max (steps 0), otherwise a stepwise or continuous
// range (step 1).
type SizeRange struct {
	MinW, MaxW, StepW int
	MinH, MaxH, StepH int
}

// Discrete returns a one-size range.
func Discrete(w, h int) SizeRange { return SizeRange{MinW: w, MaxW: w, MinH: h, MaxH: h} }

// String is "640x480" or "[16-1920;8]x[16-1080;8]".
func (r SizeRange) String() string {
	if r.MinW == r.MaxW && r.MinH == r.MaxH {
		return fmt.Sprintf("%dx%d", r.MaxW, r.MaxH)
	}
	return fmt.Sprintf("[%d-%d;%d]x[%d-%d;%d]", r.MinW, r.MaxW, r.StepW, r.MinH, r.MaxH, r.StepH)
}

// nearest returns the size of r closest to (w, h).
func (r SizeRange) nearest(w, h int) (int, int) {
	return snap(w, r.MinW, r.MaxW, r.StepW), snap(h, r.MinH, r.MaxH, r.StepH)
}

func snap(v, lo, hi, step int) int {
	if v <= lo || hi <= lo {
		return lo
	}
	if v >= hi {
		return hi
	}
	if step <= 1 {
		return v
	}
	k := (v - lo + step/2) / step
	return min(lo+k*step, hi)
}

// Advertised is one pixel format a device offers (VIDIOC_ENUM_FMT) with its
// frame sizes; Sizes may be empty when the driver does not enumerate them.
type Advertised struct {
	FourCC      FourCC
	Description string
	Sizes       []SizeRange
}

// Request is what the configuration asks for: formats in order of
// preference, a frame size in pixels and a frame rate in frames per second.
type Request struct {
	Formats       []FourCC
	Width, Height int
	FPS           float64
}

// Choice is the format and size to ask the driver for.
type Choice struct {
	FourCC        FourCC
	Width, Height int
}

// ErrNoFormat is returned (wrapped) by Negotiate when the device offers
// none of the requested formats.
var ErrNoFormat = errors.New("no requested pixel format offered")

// Negotiate picks the first format of req.Formats that the device
// advertises (and this package decodes), and its advertised size closest to
// req.Width×req.Height: smallest |Δw|+|Δh|, ties to the larger area. With
// no advertised sizes the requested size is passed to the driver as is.
// Error: ErrNoFormat (wrapped, naming what the device offers).
func Negotiate(adv []Advertised, req Request) (Choice, error) {
	for _, want := range req.Formats {
		if !Supported(want) {
			continue
		}
		for _, a := range adv {
			if a.FourCC != want {
				continue
			}
			c := Choice{FourCC: want, Width: req.Width, Height: req.Height}
			best := -1
			for _, r := range a.Sizes {
				if r.MaxW <= 0 || r.MaxH <= 0 {
					continue // malformed entry
				}
				w, h := r.nearest(req.Width, req.Height)
				d := abs(w-req.Width) + abs(h-req.Height)
				if best < 0 || d < best || d == best && w*h > c.Width*c.Height {
					best, c.Width, c.Height = d, w, h
				}
			}
			return c, nil
		}
	}
	var offered []string
	for _, a := range adv {
		offered = append(offered, a.FourCC.String())
	}
	var asked []string
	for _, f := range req.Formats {
		asked = append(asked, f.String())
	}
	return Choice{}, fmt.Errorf("%w: asked %s, device offers %s", ErrNoFormat,
		strings.Join(asked, ","), strings.Join(offered, ","))
}

// Interval is one frame interval entry of VIDIOC_ENUM_FRAMEINTERVALS in
// seconds per frame, as fractions: discrete when Min == Max.
type Interval struct {
	MinNum, MinDen uint32 // shortest interval (highest rate)
	MaxNum, MaxDen uint32 // longest interval (lowest rate)
}

// FPSRange returns the rates the interval allows, frames per second
// (lo ≤ hi); ok is false for a malformed entry (zero fields).
func (iv Interval) FPSRange() (lo, hi float64, ok bool) {
	if iv.MinNum == 0 || iv.MinDen == 0 || iv.MaxNum == 0 || iv.MaxDen == 0 {
		return 0, 0, false
	}
	hi = float64(iv.MinDen) / float64(iv.MinNum)
	lo = float64(iv.MaxDen) / float64(iv.MaxNum)
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi, true
}

// ChooseFPS returns the advertised rate closest to want (frames per
// second); want itself when nothing usable is advertised (the driver then
// picks).
func ChooseFPS(ivs []Interval, want float64) float64 {
	best, bestD := want, math.Inf(1)
	for _, iv := range ivs {
		lo, hi, ok := iv.FPSRange()
		if !ok {
			continue
		}
		v := math.Min(math.Max(want, lo), hi)
		if d := math.Abs(v - want); d < bestD || d == bestD && v > best {
			best, bestD = v, d
		}
	}
	return best
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
