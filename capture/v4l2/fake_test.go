package v4l2

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faceverify/faceverify/internal/clock"
)

// fakeDev is a scripted V4L2 device: frames queued in ready are "filled
// buffers"; wait advances the fake clock by its timeout when none is
// ready (a camera that delivers nothing makes time pass, not hang).
type fakeDev struct {
	mu      sync.Mutex
	adv     []Advertised
	ivs     []Interval
	grant   func(f FourCC, w, h int) pixFormat // nil: grants what is asked, stride 2w
	fps     float64                            // granted rate; 0: as asked
	ready   [][]byte
	deqErr  error // returned by dequeue once ready is empty
	waitErr error
	clk     *clock.Fake
	onWait  func(d *fakeDev) // called (unlocked) at every wait

	held     map[uint32]bool
	next     uint32
	asked    []string
	started  int
	buffers  int
	closed   bool
	released int
}

func newFakeDev(clk *clock.Fake) *fakeDev {
	return &fakeDev{
		clk:  clk,
		held: map[uint32]bool{},
		adv: []Advertised{
			{FourCC: YUYV, Description: "YUYV 4:2:2", Sizes: []SizeRange{Discrete(320, 240), Discrete(640, 480), Discrete(1280, 720)}},
			{FourCC: MJPG, Description: "Motion-JPEG", Sizes: []SizeRange{Discrete(640, 480), Discrete(1280, 720), Discrete(1920, 1080)}},
		},
		ivs: []Interval{{MinNum: 1, MinDen: 30, MaxNum: 1, MaxDen: 30}, {MinNum: 1, MinDen: 15, MaxNum: 1, MaxDen: 15}},
	}
}

func (d *fakeDev) push(frames ...[]byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ready = append(d.ready, frames...)
}

// script delivers the frames one per wait, in order.
func (d *fakeDev) script(frames ...[]byte) {
	d.onWait = func(d *fakeDev) {
		if len(frames) == 0 {
			return
		}
		d.push(frames[0])
		frames = frames[1:]
	}
}

func (d *fakeDev) info() (capInfo, error) {
	return capInfo{Driver: "fakedrv", Card: "Fake Cam", Bus: "usb-fake-1"}, nil
}
func (d *fakeDev) formats() []Advertised                   { return d.adv }
func (d *fakeDev) intervals(f FourCC, w, h int) []Interval { return d.ivs }

func (d *fakeDev) setFormat(f FourCC, w, h int) (pixFormat, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = append(d.asked, fmt.Sprintf("%v %dx%d", f, w, h))
	if d.grant != nil {
		return d.grant(f, w, h), nil
	}
	return pixFormat{FourCC: f, Width: w, Height: h, Stride: 2 * w}, nil
}

func (d *fakeDev) setFPS(fps float64) (float64, error) {
	if d.fps > 0 {
		return d.fps, nil
	}
	return fps, nil
}

func (d *fakeDev) start(buffers int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.started++
	d.buffers = buffers
	return nil
}

func (d *fakeDev) wait(timeout time.Duration) error {
	if d.onWait != nil {
		d.onWait(d)
	}
	d.mu.Lock()
	n, werr := len(d.ready), d.waitErr
	d.mu.Unlock()
	if werr != nil {
		return werr
	}
	if n > 0 || d.deqErr != nil {
		return nil
	}
	d.clk.Advance(timeout)
	return errNotReady
}

func (d *fakeDev) dequeue() ([]byte, uint32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.ready) == 0 {
		if d.deqErr != nil {
			return nil, 0, d.deqErr
		}
		return nil, 0, errNotReady
	}
	if len(d.held) >= 2 {
		return nil, 0, fmt.Errorf("fake: more than two buffers held")
	}
	b := d.ready[0]
	d.ready = d.ready[1:]
	d.next++
	d.held[d.next] = true
	return b, d.next, nil
}

func (d *fakeDev) release(i uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.held[i] {
		return fmt.Errorf("fake: release of buffer %d not held", i)
	}
	delete(d.held, i)
	d.released++
	return nil
}

func (d *fakeDev) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}

func (d *fakeDev) outstanding() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.held)
}

// devTree makes a fake /dev under a temp root: nodes video0..videoN-1 and
// by-id links name → target node.
func devTree(t *testing.T, nodes []string, links map[string]string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, ByIDDir), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := os.WriteFile(filepath.Join(root, "dev", n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, ByIDDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

var quiet = slog.New(slog.DiscardHandler)

// newTestSource makes a Source over root whose devices are the given fakes
// keyed by node path relative to root ("dev/video0").
func newTestSource(t *testing.T, root string, opts Options, devs map[string]*fakeDev) (*Source, *[]string) {
	t.Helper()
	opts.Root = root
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var opened []string
	s.openDev = func(path string) (device, error) {
		rel, _ := filepath.Rel(root, path)
		opened = append(opened, rel)
		d, ok := devs[rel]
		if !ok {
			return nil, fmt.Errorf("open %s: %w", path, os.ErrNotExist)
		}
		return d, nil
	}
	return s, &opened
}
