package v4l2

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	"log/slog"
	"time"

	"github.com/faceverify/faceverify/capture"
)

// SelfTestOptions configure SelfTest. Zero fields take the defaults in
// brackets; the defaults suit the vivid virtual camera (YUYV, 640×480,
// 25 fps).
type SelfTestOptions struct {
	Root          string        // filesystem root for device lookup [/]
	Formats       []FourCC      // format preference [MJPG, YUYV]
	Width, Height int           // requested size, pixels [640×480]
	FPS           float64       // requested rate, frames per second [25]
	Frames        int           // frames to grab, ≥ 2 [30]
	FrameTimeout  time.Duration // per-frame timeout [5s]
	Buffers       int           // driver buffers [3]
	Logger        *slog.Logger  // [a logger that discards]
}

// SelfTestReport is what SelfTest measured.
type SelfTestReport struct {
	Granted Granted `json:"granted"`
	// Frames is how many frames were grabbed; Distinct how many different
	// images (by pixel hash) among them.
	Frames   int `json:"frames"`
	Distinct int `json:"distinct"`
	// WrongSize counts frames whose size differs from the granted size.
	WrongSize int `json:"wrong_size"`
	// MeasuredFPS is (frames−1) / (last frame time − first frame time),
	// frames per second.
	MeasuredFPS float64 `json:"measured_fps"`
	// OpenTime is how long Open (resolve, negotiate, start) took.
	OpenTime time.Duration `json:"open_ns"`
	Stats    Stats         `json:"stats"`
	// Passed is true when every check passed (the error is then nil).
	Passed bool `json:"passed"`
}

// ErrSelfTest is returned (wrapped, with the failed check) by SelfTest when
// the camera works but a check fails.
var ErrSelfTest = errors.New("camera self-test failed")

// SelfTest opens device (as Options.Device), grabs opts.Frames frames
// through the same path as the agent (Source.Open/Next), and checks that
// every frame has the granted size and that they are not all identical
// (a live camera, not a frozen buffer). It reports the granted format and
// the measured frame rate. The report is filled as far as the test got.
// Errors: the Open or Next error (e.g. capture.ErrNoDevice,
// capture.ErrFrameTimeout, wrapped); ErrSelfTest (wrapped) naming the
// failed check; ctx.Err().
func SelfTest(ctx context.Context, device string, opts SelfTestOptions) (SelfTestReport, error) {
	if opts.Width <= 0 || opts.Height <= 0 {
		opts.Width, opts.Height = DefaultWidth, DefaultHeight
	}
	if !(opts.FPS > 0) {
		opts.FPS = 25
	}
	if opts.Frames < 2 {
		opts.Frames = 30
	}
	if opts.FrameTimeout <= 0 {
		opts.FrameTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	src, err := New(Options{
		Device: device, Root: opts.Root, Formats: opts.Formats,
		Width: opts.Width, Height: opts.Height, FPS: opts.FPS,
		FrameTimeout: opts.FrameTimeout, Buffers: opts.Buffers, Logger: opts.Logger,
	})
	if err != nil {
		return SelfTestReport{}, err
	}
	return selfTest(ctx, src, opts.Frames)
}

func selfTest(ctx context.Context, src *Source, n int) (SelfTestReport, error) {
	var rep SelfTestReport
	t0 := time.Now()
	if err := src.Open(ctx); err != nil {
		return rep, err
	}
	defer src.Close()
	rep.OpenTime = time.Since(t0)
	rep.Granted = src.Granted()
	g := rep.Granted

	hashes := map[uint64]bool{}
	var first, last time.Time
	for i := 0; i < n; i++ {
		f, err := src.Next(ctx)
		if err != nil {
			rep.Stats = src.Stats()
			return rep, fmt.Errorf("frame %d of %d: %w", i+1, n, err)
		}
		now := f.At
		if i == 0 {
			first = now
		}
		last = now
		rep.Frames++
		b := f.Image.Bounds()
		if b.Dx() != g.Width || b.Dy() != g.Height {
			rep.WrongSize++
		}
		px, err := capture.Pixels(f.Image)
		if err != nil {
			rep.Stats = src.Stats()
			return rep, fmt.Errorf("frame %d of %d: %w", i+1, n, err)
		}
		hashes[pixelHash(px)] = true
	}
	rep.Distinct = len(hashes)
	if span := last.Sub(first); span > 0 {
		rep.MeasuredFPS = float64(rep.Frames-1) / span.Seconds()
	}
	rep.Stats = src.Stats()
	switch {
	case rep.WrongSize > 0:
		return rep, fmt.Errorf("%w: %d of %d frames are not the granted %dx%d", ErrSelfTest, rep.WrongSize, rep.Frames, g.Width, g.Height)
	case rep.Distinct < 2:
		return rep, fmt.Errorf("%w: all %d frames are identical", ErrSelfTest, rep.Frames)
	}
	rep.Passed = true
	return rep, nil
}

// pixelHash is an FNV-1a hash of the image's pixels.
func pixelHash(img image.Image) uint64 {
	h := fnv.New64a()
	if rgba, ok := img.(*image.RGBA); ok {
		h.Write(rgba.Pix)
		return h.Sum64()
	}
	b := img.Bounds()
	var px [16]byte
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			binary.LittleEndian.PutUint32(px[0:], r)
			binary.LittleEndian.PutUint32(px[4:], g)
			binary.LittleEndian.PutUint32(px[8:], bl)
			binary.LittleEndian.PutUint32(px[12:], a)
			h.Write(px[:])
		}
	}
	return h.Sum64()
}
