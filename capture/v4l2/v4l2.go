// Package v4l2 is a capture.Source for USB (UVC) and other Video4Linux2
// cameras, on github.com/blackjack/webcam (pure Go, no cgo).
//
// The camera is named by device node ("/dev/video0") or by a stable udev
// name ("/dev/v4l/by-id/usb-…-video-index0" or any substring of it), which
// is resolved again at every Open so that a camera re-plugged under
// another /dev/videoN is found. Open negotiates the first configured pixel
// format the camera offers (MJPG, then YUYV by default), the advertised
// frame size closest to the configured one and the closest frame rate,
// then reads back and logs what the driver granted (Granted).
//
// Next copies each frame out of the driver's buffer before handing the
// buffer back, converts YUYV to RGBA or decodes MJPEG (inserting the
// standard Huffman tables that UVC cameras leave out), and returns the
// newest frame: frames that queued up while the caller was busy are
// dropped (Stats.Dropped). Corrupt or truncated frames are skipped
// (Stats.Corrupt). A camera that delivers no good frame within the frame
// timeout makes Next fail with capture.ErrFrameTimeout; an unplugged
// camera (ENODEV, or the node gone) with capture.ErrDeviceLost.
package v4l2

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/internal/clock"
)

// Defaults for zero Options fields.
const (
	DefaultWidth        = 640
	DefaultHeight       = 480
	DefaultFPS          = 30
	DefaultFrameTimeout = 2 * time.Second
	DefaultBuffers      = 3
)

// DefaultFormats is the default pixel format preference: compressed MJPG
// first (less USB bandwidth, higher rates at large sizes), then YUYV.
var DefaultFormats = []FourCC{MJPG, YUYV}

// Options configure a Source. Zero fields take the defaults.
type Options struct {
	// Device is a node path, a /dev/v4l/by-id or by-path path, or a
	// substring of a by-id name (see Resolve). Required.
	Device string
	// Root is the filesystem root for device lookups ("" is "/").
	Root string
	// Formats lists pixel formats in order of preference [MJPG, YUYV].
	Formats []FourCC
	// Width and Height are the requested frame size in pixels [640×480];
	// the closest advertised size is used.
	Width, Height int
	// FPS is the requested frame rate, frames per second [30]; the closest
	// advertised rate is used.
	FPS float64
	// FrameTimeout bounds the wait for a good frame in Next [2s].
	FrameTimeout time.Duration
	// Buffers is the number of driver buffers [3], 2–32. Few buffers keep
	// latency low.
	Buffers int
	// Clock stamps frames and measures the frame timeout [wall clock].
	Clock clock.Clock
	// Logger receives the granted format at Open and rate-limited warnings
	// about skipped frames [slog.Default()].
	Logger *slog.Logger
}

// Granted is what the driver actually granted at the last Open.
type Granted struct {
	Device  string  `json:"device"`          // node path, e.g. /dev/video0
	ByID    string  `json:"by_id,omitempty"` // by-id name used to find it
	Driver  string  `json:"driver"`          // e.g. uvcvideo, vivid
	Card    string  `json:"card"`            // product name
	Bus     string  `json:"bus"`             // e.g. usb-0000:00:14.0-2
	Format  string  `json:"format"`          // FourCC, e.g. "YUYV"
	Width   int     `json:"width"`           // pixels
	Height  int     `json:"height"`          // pixels
	Stride  int     `json:"stride"`          // bytes per line (raw formats)
	FPS     float64 `json:"fps"`             // frames per second; 0 if the driver does not say
	Buffers int     `json:"buffers"`         // requested driver buffers

	fourcc FourCC
	rng    Range
}

// Stats counts what a Source did since it was created.
type Stats struct {
	Frames   uint64 `json:"frames"`   // frames delivered by Next
	Dropped  uint64 `json:"dropped"`  // stale frames discarded for a newer one
	Corrupt  uint64 `json:"corrupt"`  // frames skipped as corrupt or truncated
	Timeouts uint64 `json:"timeouts"` // frame timeouts
}

// Source is a V4L2 camera. Make one with New. Open, Next and Close are
// used by one goroutine at a time; Granted, Stats, Present and Name are
// safe to call from others.
type Source struct {
	opts    Options
	log     *slog.Logger
	openDev func(path string) (device, error)

	mu      sync.Mutex
	dev     device
	granted Granted
	seq     uint64

	frames, dropped, corrupt, timeouts atomic.Uint64
	lastWarn                           time.Time
}

// New checks opts and returns a Source; the camera is opened by Open.
func New(opts Options) (*Source, error) {
	if opts.Device == "" {
		return nil, errors.New("v4l2: device is empty")
	}
	if len(opts.Formats) == 0 {
		opts.Formats = DefaultFormats
	}
	for _, f := range opts.Formats {
		if !Supported(f) {
			return nil, fmt.Errorf("v4l2: format %v: only MJPG and YUYV are decoded", f)
		}
	}
	if opts.Width <= 0 || opts.Height <= 0 {
		opts.Width, opts.Height = DefaultWidth, DefaultHeight
	}
	if !(opts.FPS > 0) {
		opts.FPS = DefaultFPS
	}
	if opts.FrameTimeout <= 0 {
		opts.FrameTimeout = DefaultFrameTimeout
	}
	if opts.Buffers <= 0 {
		opts.Buffers = DefaultBuffers
	}
	opts.Buffers = min(max(opts.Buffers, 2), 32)
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Source{
		opts:    opts,
		log:     opts.Logger.With("component", "v4l2", "camera", opts.Device),
		openDev: openWebcam,
	}, nil
}

// Name returns the configured device name.
func (s *Source) Name() string { return s.opts.Device }

// Present reports whether the configured device resolves to an existing
// node: nil, or an error wrapping capture.ErrNoDevice. It does not open the
// camera (capture.Prober).
func (s *Source) Present() error {
	_, err := Resolve(s.opts.Root, s.opts.Device)
	return err
}

// Granted returns what the driver granted at the last successful Open
// (zero before).
func (s *Source) Granted() Granted {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.granted
}

// Stats returns the counters.
func (s *Source) Stats() Stats {
	return Stats{Frames: s.frames.Load(), Dropped: s.dropped.Load(), Corrupt: s.corrupt.Load(), Timeouts: s.timeouts.Load()}
}

// Open resolves the device name, opens the camera, negotiates format, size
// and rate, and starts streaming. Opening an open Source reopens it.
// Errors: capture.ErrNoDevice (wrapped) when the camera is not there;
// ErrNoFormat (wrapped) when it offers none of the configured formats;
// otherwise the failing step and the driver's error.
func (s *Source) Open(ctx context.Context) error {
	s.Close()
	if err := ctx.Err(); err != nil {
		return err
	}
	res, err := Resolve(s.opts.Root, s.opts.Device)
	if err != nil {
		return fmt.Errorf("v4l2 open: %w", err) // names the device
	}
	dev, err := s.openDev(res.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
			err = errors.Join(capture.ErrNoDevice, err)
		}
		return fmt.Errorf("v4l2 open %s: %w", res.Path, err)
	}
	g, err := s.negotiate(dev)
	if err != nil {
		dev.close()
		return fmt.Errorf("v4l2 open %s: %w", res.Path, err)
	}
	g.Device, g.ByID = res.Path, res.ByID
	s.mu.Lock()
	s.dev, s.granted, s.seq = dev, g, 0
	s.mu.Unlock()
	s.log.Info("camera open", "device", g.Device, "by_id", g.ByID, "driver", g.Driver, "card", g.Card,
		"format", g.Format, "width", g.Width, "height", g.Height, "stride", g.Stride, "fps", g.FPS,
		"requested", fmt.Sprintf("%dx%d@%g", s.opts.Width, s.opts.Height, s.opts.FPS))
	return nil
}

// negotiate sets format, size and rate on dev and starts streaming.
func (s *Source) negotiate(dev device) (Granted, error) {
	info, err := dev.info()
	if err != nil {
		return Granted{}, err
	}
	ch, err := Negotiate(dev.formats(), Request{Formats: s.opts.Formats, Width: s.opts.Width, Height: s.opts.Height, FPS: s.opts.FPS})
	if err != nil {
		return Granted{}, err
	}
	pf, err := dev.setFormat(ch.FourCC, ch.Width, ch.Height)
	if err != nil {
		return Granted{}, err
	}
	if !Supported(pf.FourCC) {
		return Granted{}, fmt.Errorf("driver granted %v instead of %v: %w", pf.FourCC, ch.FourCC, ErrNoFormat)
	}
	if pf.Width <= 0 || pf.Height <= 0 || pf.FourCC == YUYV && (pf.Width%2 != 0 || pf.Stride < 2*pf.Width) {
		return Granted{}, fmt.Errorf("driver granted an unusable %v %dx%d stride %d", pf.FourCC, pf.Width, pf.Height, pf.Stride)
	}
	fps := ChooseFPS(dev.intervals(pf.FourCC, pf.Width, pf.Height), s.opts.FPS)
	gotFPS, err := dev.setFPS(fps)
	if err != nil {
		s.log.Warn("camera frame rate not set; using the driver's", "fps", gotFPS, "err", err)
	}
	if err := dev.start(s.opts.Buffers); err != nil {
		return Granted{}, fmt.Errorf("start streaming: %w", err)
	}
	return Granted{
		Driver: info.Driver, Card: info.Card, Bus: info.Bus,
		Format: pf.FourCC.String(), Width: pf.Width, Height: pf.Height, Stride: pf.Stride,
		FPS: gotFPS, Buffers: s.opts.Buffers, fourcc: pf.FourCC, rng: pf.Range,
	}, nil
}

// Close stops streaming and closes the camera; it may be called twice.
func (s *Source) Close() error {
	s.mu.Lock()
	dev := s.dev
	s.dev = nil
	s.mu.Unlock()
	if dev == nil {
		return nil
	}
	return dev.close()
}

// pollSlice bounds one wait, so that ctx cancellation is seen promptly.
const pollSlice = 100 * time.Millisecond

// maxDequeueErrors is how many consecutive unexplained dequeue errors end
// Next with an error.
const maxDequeueErrors = 3

// Next waits for the next good frame and returns the newest one. Errors:
// capture.ErrClosed when not open; capture.ErrDeviceLost (wrapped) when
// the camera was unplugged; capture.ErrFrameTimeout (wrapped) when no good
// frame came within FrameTimeout; ctx.Err() when ctx ends first.
func (s *Source) Next(ctx context.Context) (capture.Frame, error) {
	s.mu.Lock()
	dev, g := s.dev, s.granted
	s.mu.Unlock()
	if dev == nil {
		return capture.Frame{}, capture.ErrClosed
	}
	clk := s.opts.Clock
	deadline := clk.Now().Add(s.opts.FrameTimeout)
	errs := 0
	for {
		if err := ctx.Err(); err != nil {
			return capture.Frame{}, err
		}
		left := deadline.Sub(clk.Now())
		if left <= 0 {
			s.timeouts.Add(1)
			if err := s.Present(); err != nil {
				return capture.Frame{}, fmt.Errorf("v4l2 %s: %w: %v", g.Device, capture.ErrDeviceLost, err)
			}
			return capture.Frame{}, fmt.Errorf("v4l2 %s: %w (%v)", g.Device, capture.ErrFrameTimeout, s.opts.FrameTimeout)
		}
		werr := dev.wait(min(left, pollSlice))
		switch {
		case errors.Is(werr, errNotReady):
			continue
		case werr != nil && !errors.Is(werr, errPollError):
			return capture.Frame{}, s.deviceErr(g, "wait", werr)
		}
		img, jpg, ok, err := s.take(dev, g)
		switch {
		case err != nil && isLost(err):
			return capture.Frame{}, s.deviceErr(g, "dequeue", err)
		case err != nil && s.Present() != nil:
			return capture.Frame{}, s.deviceErr(g, "dequeue", err)
		case err != nil:
			if errs++; errs >= maxDequeueErrors {
				return capture.Frame{}, fmt.Errorf("v4l2 %s dequeue: %w", g.Device, err)
			}
			continue
		case !ok:
			if werr != nil { // POLLERR without a frame: do not spin
				if err := s.Present(); err != nil {
					return capture.Frame{}, s.deviceErr(g, "poll", err)
				}
				select {
				case <-ctx.Done():
				case <-clk.After(min(left, pollSlice)):
				}
			}
			continue
		case img == nil:
			continue // corrupt: counted by take; wait for the next frame
		}
		errs = 0
		s.mu.Lock()
		s.seq++
		seq := s.seq
		s.mu.Unlock()
		s.frames.Add(1)
		return capture.Frame{Image: img, JPEG: jpg, At: clk.Now(), Seq: seq}, nil
	}
}

// take dequeues every ready buffer, keeps the newest (counting the others
// as dropped), copies or converts it, and hands every buffer back. ok is
// false when nothing was ready; img is nil for a corrupt frame.
func (s *Source) take(dev device, g Granted) (img image.Image, jpg []byte, ok bool, err error) {
	buf, idx, err := dev.dequeue()
	if errors.Is(err, errNotReady) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	for {
		nbuf, nidx, nerr := dev.dequeue()
		if nerr != nil {
			if !errors.Is(nerr, errNotReady) {
				dev.release(idx)
				return nil, nil, false, nerr
			}
			break
		}
		if err := dev.release(idx); err != nil {
			dev.release(nidx)
			return nil, nil, false, err
		}
		s.dropped.Add(1)
		buf, idx = nbuf, nidx
	}

	// Copy (or convert) the newest frame, then hand its buffer back.
	var cerr error
	switch g.fourcc {
	case YUYV:
		rgba := image.NewRGBA(image.Rect(0, 0, g.Width, g.Height))
		cerr = YUYVToRGBA(rgba, buf, g.Width, g.Height, g.Stride, g.rng)
		img = rgba
	case MJPG:
		jpg, _, cerr = AppendMJPEG(nil, buf)
	}
	if err := dev.release(idx); err != nil {
		return nil, nil, false, err
	}
	if cerr == nil && g.fourcc == MJPG {
		img, cerr = lazyMJPEG(jpg, g.Width, g.Height)
	}
	if cerr != nil {
		s.corrupt.Add(1)
		s.warn("camera frame skipped", "err", cerr, "bytes", len(buf))
		return nil, nil, true, nil
	}
	return img, jpg, true, nil
}

// warn logs at most once per 10 s (per-frame paths).
func (s *Source) warn(msg string, args ...any) {
	now := s.opts.Clock.Now()
	s.mu.Lock()
	if now.Sub(s.lastWarn) < 10*time.Second && !s.lastWarn.IsZero() {
		s.mu.Unlock()
		return
	}
	s.lastWarn = now
	s.mu.Unlock()
	st := s.Stats()
	s.log.Warn(msg, append(args, "corrupt_total", st.Corrupt)...)
}

// isLost reports errors that mean the device is gone.
func isLost(err error) bool {
	return errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.ESHUTDOWN)
}

// deviceErr wraps err as capture.ErrDeviceLost when the device is gone
// (by errno or because its node vanished), as a plain error otherwise.
func (s *Source) deviceErr(g Granted, op string, err error) error {
	if isLost(err) || s.Present() != nil || errors.Is(err, capture.ErrNoDevice) {
		return fmt.Errorf("v4l2 %s %s: %w: %w", g.Device, op, capture.ErrDeviceLost, err)
	}
	return fmt.Errorf("v4l2 %s %s: %w", g.Device, op, err)
}

// sortAdvertised orders formats by FourCC text, for stable output.
func sortAdvertised(a []Advertised) {
	sort.Slice(a, func(i, j int) bool { return a[i].FourCC.String() < a[j].FourCC.String() })
}
