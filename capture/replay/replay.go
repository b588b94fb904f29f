// Package replay is a capture.Source that plays still images from a file or
// a directory as if they came from a camera: frames are paced at a fixed
// rate by an injected clock, optionally in a loop. It stands in for the
// camera in demos and tests; capture/v4l2, the camera source, has the same
// shape.
//
// Frames are handed over still encoded (capture.LazyImage, with the file's
// bytes in Frame.JPEG for JPEG files): a file is decoded, once per Open,
// when a frame of it is first analysed or shown, so a replay at camera
// rate costs no decoding for the frames nobody looks at. The first frame,
// which Open decodes, is kept decoded across Close: the next Open reuses
// it when that file's bytes are unchanged, so a session's first frame
// comes without a decode (one frame's pixels stay in memory while closed).
//
// A directory is listed again at every Open (files sorted by name, only
// .jpg, .jpeg and .png, hidden files ignored), so a demo can change "what
// stands in front of the camera" between sessions by changing the files.
package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	// The header probe (image.DecodeConfig) needs the formats of the
	// listed extensions registered.
	_ "image/jpeg"
	_ "image/png"

	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/internal/clock"
)

// ErrNoImages is returned (wrapped) by Open and Next when the path holds no
// decodable image.
var ErrNoImages = errors.New("no decodable image")

// DecodeFunc decodes one encoded image into an upright image (EXIF
// orientation applied). Production wiring passes inference.Decode with the
// configured pixel limit.
type DecodeFunc func(r io.Reader) (image.Image, error)

// Options configure a Source.
type Options struct {
	// Path is an image file or a directory of images. Required.
	Path string
	// FPS is the frame rate, frames per second, > 0 (e.g. 10).
	FPS float64
	// Loop restarts from the first image after the last; otherwise Next
	// returns capture.ErrClosed after the last image.
	Loop bool
	// Decode decodes one file. Required.
	Decode DecodeFunc
	// MaxFileBytes skips files larger than this; 0 means 32 MiB.
	MaxFileBytes int64
	// Clock paces frames; the wall clock if nil.
	Clock clock.Clock
	// Logger receives one warning per skipped file per Open.
	Logger *slog.Logger
}

// Stats counts what a Source did since it was created.
type Stats struct {
	Frames  uint64 // frames delivered
	Skipped uint64 // files skipped because they could not be read or decoded
}

// Source replays images. Make one with New.
type Source struct {
	opts   Options
	period time.Duration
	logger *slog.Logger

	mu      sync.Mutex
	open    bool
	gen     uint64 // counts Opens: a late decode failure marks its own listing only
	files   []string
	cache   map[int]decoded
	bad     map[int]bool
	first   int      // the file Open decoded
	kept    *decoded // that file's frame, kept decoded across Close
	pos     int
	seq     uint64
	lastAt  time.Time
	started bool
	stats   Stats
}

type decoded struct {
	img  *capture.LazyImage
	jpeg []byte
	raw  []byte // the file's bytes
}

// maxCached bounds how many decoded images one Open keeps in memory.
const maxCached = 32

// New checks opts and returns a Source; the path is read at Open.
func New(opts Options) (*Source, error) {
	switch {
	case opts.Path == "":
		return nil, errors.New("replay: path is empty")
	case !(opts.FPS > 0) || opts.FPS > 1000:
		return nil, fmt.Errorf("replay: fps must be in (0,1000], got %v", opts.FPS)
	case opts.Decode == nil:
		return nil, errors.New("replay: decode func is nil")
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = 32 << 20
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Source{
		opts:   opts,
		period: time.Duration(float64(time.Second) / opts.FPS),
		logger: opts.Logger.With("component", "replay", "path", opts.Path),
	}, nil
}

// Name returns "replay:" and the path.
func (s *Source) Name() string { return "replay:" + s.opts.Path }

// Stats returns the counters.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Open lists the path and decodes the first decodable image, so that a
// path without any usable image fails here (ErrNoImages, wrapped) rather
// than at the first Next.
func (s *Source) Open(ctx context.Context) error {
	files, err := list(s.opts.Path)
	if err != nil {
		return fmt.Errorf("replay open %s: %w", s.opts.Path, err)
	}
	s.mu.Lock()
	s.files, s.cache, s.bad = files, map[int]decoded{}, map[int]bool{}
	s.pos, s.seq, s.started, s.open = 0, 0, false, true
	s.gen++
	s.mu.Unlock()
	for i := range files {
		if err := ctx.Err(); err != nil {
			s.setOpen(false)
			return err
		}
		s.mu.Lock()
		d, ok := s.load(i)
		s.mu.Unlock()
		if !ok {
			continue
		}
		if _, err := d.img.Decode(); err != nil {
			continue // marked bad and counted by the decoder
		}
		s.mu.Lock()
		s.pos, s.first = i, i
		s.mu.Unlock()
		return nil
	}
	s.setOpen(false)
	return fmt.Errorf("replay open %s: %w (%d files skipped)", s.opts.Path, ErrNoImages, len(files))
}

func (s *Source) setOpen(open bool) {
	s.mu.Lock()
	s.open = open
	s.mu.Unlock()
}

// Next waits until the next frame is due, then returns it. Files that
// cannot be read or whose header is not an image are skipped
// (Stats.Skipped); a file that fails later, when its frame is decoded,
// fails that decoding (the analysis reports it) and is skipped from then
// on. Errors:
// capture.ErrClosed after Close or after the last image without Loop;
// ErrNoImages (wrapped) if no file of the listing is decodable any more;
// ctx.Err() when ctx ends first.
func (s *Source) Next(ctx context.Context) (capture.Frame, error) {
	s.mu.Lock()
	if !s.open {
		s.mu.Unlock()
		return capture.Frame{}, capture.ErrClosed
	}
	var due time.Time
	if s.started {
		due = s.lastAt.Add(s.period)
	}
	s.mu.Unlock()

	if !due.IsZero() {
		if wait := due.Sub(s.opts.Clock.Now()); wait > 0 {
			select {
			case <-ctx.Done():
				return capture.Frame{}, ctx.Err()
			case <-s.opts.Clock.After(wait):
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return capture.Frame{}, capture.ErrClosed
	}
	for tried := 0; ; tried++ {
		if tried > len(s.files) {
			return capture.Frame{}, fmt.Errorf("replay %s: %w", s.opts.Path, ErrNoImages)
		}
		if s.pos >= len(s.files) {
			if !s.opts.Loop {
				return capture.Frame{}, capture.ErrClosed
			}
			s.pos = 0
		}
		i := s.pos
		s.pos++
		d, ok := s.load(i)
		if !ok {
			continue
		}
		now := s.opts.Clock.Now()
		s.started, s.lastAt = true, now
		s.seq++
		s.stats.Frames++
		return capture.Frame{Image: d.img, JPEG: d.jpeg, At: now, Seq: s.seq}, nil
	}
}

// Close stops the replay; it may be called twice.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open = false
	if d, ok := s.cache[s.first]; ok && d.img.Decoded() {
		if _, err := d.img.Decode(); err == nil { // done: returns the kept result
			s.kept = &d
		}
	}
	s.cache = nil
	return nil
}

// load returns file i, read and its header checked, as a frame image
// that decodes on first use; s.mu is held.
func (s *Source) load(i int) (decoded, bool) {
	if d, ok := s.cache[i]; ok {
		return d, true
	}
	if s.bad[i] {
		s.stats.Skipped++
		return decoded{}, false
	}
	path := s.files[i]
	d, err := s.read(i, path)
	if err != nil {
		s.bad[i] = true
		s.stats.Skipped++
		s.logger.Warn("replay: skipping file", "file", filepath.Base(path), "err", err)
		return decoded{}, false
	}
	if len(s.cache) < maxCached {
		s.cache[i] = d
	}
	return d, true
}

// read reads file i and checks its header; the pixels are decoded by the
// returned image on first use.
func (s *Source) read(i int, path string) (decoded, error) {
	f, err := os.Open(path)
	if err != nil {
		return decoded{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, s.opts.MaxFileBytes+1))
	if err != nil {
		return decoded{}, err
	}
	if int64(len(b)) > s.opts.MaxFileBytes {
		return decoded{}, fmt.Errorf("larger than %d bytes", s.opts.MaxFileBytes)
	}
	if k := s.kept; k != nil && bytes.Equal(k.raw, b) {
		return *k, nil // decoded by an earlier Open
	}
	if _, _, err := image.DecodeConfig(bytes.NewReader(b)); err != nil {
		return decoded{}, err
	}
	gen := s.gen
	d := decoded{raw: b, img: capture.NewLazyImage(image.Rectangle{}, func() (image.Image, error) {
		img, err := s.opts.Decode(bytes.NewReader(b))
		if err == nil && (img == nil || img.Bounds().Empty()) {
			err = errors.New("empty image")
		}
		if err != nil {
			s.markBad(gen, i, path, err)
			return nil, err
		}
		return img, nil
	})}
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".jpg" || ext == ".jpeg" {
		d.jpeg = b
	}
	return d, nil
}

// markBad records that file i of listing gen failed to decode.
func (s *Source) markBad(gen uint64, i int, path string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || s.bad == nil {
		return
	}
	s.bad[i] = true
	delete(s.cache, i)
	s.stats.Skipped++
	s.logger.Warn("replay: skipping file", "file", filepath.Base(path), "err", err)
}

// imageExts are the file extensions a directory listing keeps.
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true}

// list returns path itself when it is a file, or the sorted image files of
// the directory path.
func list(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !imageExts[strings.ToLower(filepath.Ext(name))] {
			continue
		}
		if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
			files = append(files, filepath.Join(path, name))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: directory has no .jpg/.jpeg/.png file", ErrNoImages)
	}
	return files, nil
}
