package v4l2

import (
	"context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/blackjack/webcam"
	"golang.org/x/sys/unix"

	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/internal/clock"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// yuyvFrame is a w×h YUYV frame with luma y everywhere (neutral chroma)
// and stride bytes per row.
func yuyvFrame(w, h, stride int, y byte) []byte {
	b := make([]byte, stride*h)
	for r := 0; r < h; r++ {
		for x := 0; x < w; x += 2 {
			copy(b[r*stride+2*x:], []byte{y, 128, y, 128})
		}
	}
	return b
}

type env struct {
	root string
	clk  *clock.Fake
	dev  *fakeDev
	src  *Source
	open *[]string
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	e := &env{clk: clock.NewFake(t0)}
	e.root = devTree(t, []string{"video0", "video1"}, map[string]string{c920: "../../video0"})
	e.dev = newFakeDev(e.clk)
	if opts.Device == "" {
		opts.Device = "C920"
	}
	opts.Clock = e.clk
	e.src, e.open = newTestSource(t, e.root, opts, map[string]*fakeDev{"dev/video0": e.dev})
	return e
}

func TestOpenNegotiatesAndReportsGranted(t *testing.T) {
	e := newEnv(t, Options{Width: 1280, Height: 720, FPS: 25})
	// The driver grants a smaller size with padded rows, and 30 fps.
	e.dev.grant = func(f FourCC, w, h int) pixFormat {
		return pixFormat{FourCC: f, Width: 640, Height: 480, Stride: 1344, Range: RangeFull}
	}
	e.dev.fps = 30
	if err := e.src.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.src.Close()
	g := e.src.Granted()
	want := Granted{
		Device: filepath.Join(e.root, "dev", "video0"), ByID: c920, Driver: "fakedrv", Card: "Fake Cam", Bus: "usb-fake-1",
		Format: "MJPG", Width: 640, Height: 480, Stride: 1344, FPS: 30, Buffers: DefaultBuffers, fourcc: MJPG, rng: RangeFull,
	}
	if g != want {
		t.Fatalf("Granted = %+v\nwant      %+v", g, want)
	}
	if !reflect.DeepEqual(e.dev.asked, []string{"MJPG 1280x720"}) {
		t.Fatalf("asked the driver for %v", e.dev.asked)
	}
	if e.dev.started != 1 || e.dev.buffers != DefaultBuffers {
		t.Fatalf("started %d with %d buffers", e.dev.started, e.dev.buffers)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Run("absent", func(t *testing.T) {
		e := newEnv(t, Options{Device: "Logitech_Brio"})
		if err := e.src.Open(context.Background()); !errors.Is(err, capture.ErrNoDevice) {
			t.Fatalf("err = %v, want ErrNoDevice", err)
		}
		if err := e.src.Present(); !errors.Is(err, capture.ErrNoDevice) {
			t.Fatalf("Present = %v", err)
		}
	})
	t.Run("node vanishes between resolve and open", func(t *testing.T) {
		e := newEnv(t, Options{Device: "/dev/video1"}) // no fake behind video1
		if err := e.src.Open(context.Background()); !errors.Is(err, capture.ErrNoDevice) {
			t.Fatalf("err = %v, want ErrNoDevice", err)
		}
	})
	t.Run("no usable format", func(t *testing.T) {
		e := newEnv(t, Options{Formats: []FourCC{MJPG}})
		e.dev.adv = e.dev.adv[:1] // YUYV only
		err := e.src.Open(context.Background())
		if !errors.Is(err, ErrNoFormat) {
			t.Fatalf("err = %v, want ErrNoFormat", err)
		}
		if !e.dev.closed {
			t.Fatal("device left open after a failed negotiation")
		}
	})
	t.Run("driver substitutes a format", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.dev.grant = func(f FourCC, w, h int) pixFormat {
			return pixFormat{FourCC: 'R' | 'G'<<8 | 'B'<<16 | '3'<<24, Width: w, Height: h, Stride: 3 * w}
		}
		if err := e.src.Open(context.Background()); !errors.Is(err, ErrNoFormat) {
			t.Fatalf("err = %v, want ErrNoFormat", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		e := newEnv(t, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := e.src.Open(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestOpenFindsReplugUnderNewNode(t *testing.T) {
	e := newEnv(t, Options{})
	moved := newFakeDev(e.clk)
	e.src.openDev = func(path string) (device, error) {
		switch filepath.Base(path) {
		case "video0":
			return e.dev, nil
		case "video5":
			return moved, nil
		}
		return nil, os.ErrNotExist
	}
	ctx := context.Background()
	if err := e.src.Open(ctx); err != nil {
		t.Fatal(err)
	}
	e.src.Close()
	os.Remove(filepath.Join(e.root, "dev", "video0"))
	os.Remove(filepath.Join(e.root, ByIDDir, c920))
	os.WriteFile(filepath.Join(e.root, "dev", "video5"), nil, 0o600)
	os.Symlink("../../video5", filepath.Join(e.root, ByIDDir, c920))
	if err := e.src.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.src.Close()
	if g := e.src.Granted(); filepath.Base(g.Device) != "video5" || moved.started != 1 {
		t.Fatalf("reopened %s (started %d), want video5", g.Device, moved.started)
	}
}

func TestNextYUYV(t *testing.T) {
	e := newEnv(t, Options{Formats: []FourCC{YUYV}, Width: 4, Height: 2})
	e.dev.adv = []Advertised{{FourCC: YUYV, Sizes: []SizeRange{Discrete(4, 2)}}}
	e.dev.grant = func(f FourCC, w, h int) pixFormat { return pixFormat{FourCC: f, Width: 4, Height: 2, Stride: 12} }
	ctx := context.Background()
	if err := e.src.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.src.Close()
	e.dev.push(yuyvFrame(4, 2, 12, 235))
	f, err := e.src.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	img := f.Image.(*image.RGBA)
	if img.Bounds() != image.Rect(0, 0, 4, 2) || img.RGBAAt(3, 1).R != 255 || img.RGBAAt(0, 0).G != 255 {
		t.Fatalf("frame %v, pixel %v; want white 4x2", img.Bounds(), img.RGBAAt(3, 1))
	}
	if f.Seq != 1 || !f.At.Equal(t0) || f.JPEG != nil {
		t.Fatalf("seq %d at %v jpeg %d", f.Seq, f.At, len(f.JPEG))
	}
	if e.dev.outstanding() != 0 {
		t.Fatal("buffer not handed back")
	}
}

func TestNextDropsStaleAndSkipsCorrupt(t *testing.T) {
	e := newEnv(t, Options{Formats: []FourCC{YUYV}, Width: 4, Height: 2})
	e.dev.adv = []Advertised{{FourCC: YUYV, Sizes: []SizeRange{Discrete(4, 2)}}}
	ctx := context.Background()
	if err := e.src.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.src.Close()
	// Three frames queued while the caller was busy: the newest wins.
	e.dev.push(yuyvFrame(4, 2, 8, 16), yuyvFrame(4, 2, 8, 100), yuyvFrame(4, 2, 8, 235))
	f, err := e.src.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := f.Image.(*image.RGBA).RGBAAt(0, 0); c.R != 255 {
		t.Fatalf("got an older frame (R=%d), want the newest (white)", c.R)
	}
	// A truncated frame is skipped; the next good one is returned.
	e.dev.script(yuyvFrame(4, 2, 8, 100)[:9], yuyvFrame(4, 2, 8, 16))
	f, err = e.src.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := f.Image.(*image.RGBA).RGBAAt(0, 0); c.R != 0 || f.Seq != 2 {
		t.Fatalf("pixel %v seq %d, want black frame seq 2", c, f.Seq)
	}
	want := Stats{Frames: 2, Dropped: 2, Corrupt: 1}
	if st := e.src.Stats(); st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
	if e.dev.outstanding() != 0 || e.dev.released != 5 {
		t.Fatalf("outstanding %d released %d; want every buffer back", e.dev.outstanding(), e.dev.released)
	}
}

func TestNextMJPEG(t *testing.T) {
	e := newEnv(t, Options{Width: 64, Height: 48})
	e.dev.adv = []Advertised{{FourCC: MJPG, Sizes: []SizeRange{Discrete(64, 48)}}}
	ctx := context.Background()
	if err := e.src.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.src.Close()
	good := stripDHT(t, encodeJPEG(t, testPicture(64, 48), 90))
	wrongSize := stripDHT(t, encodeJPEG(t, testPicture(32, 24), 90))
	e.dev.script(good[:len(good)/2], wrongSize, good)
	f, err := e.src.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f.Image.Bounds().Dx() != 64 || len(f.JPEG) != len(good)+len(stdDHT) {
		t.Fatalf("image %v, jpeg %d bytes", f.Image.Bounds(), len(f.JPEG))
	}
	if st := e.src.Stats(); st.Corrupt != 2 || st.Frames != 1 {
		t.Fatalf("Stats = %+v, want 2 corrupt, 1 frame", st)
	}
}

func TestNextTimeoutAndGarbage(t *testing.T) {
	t.Run("silent camera", func(t *testing.T) {
		e := newEnv(t, Options{Formats: []FourCC{YUYV}, FrameTimeout: time.Second})
		ctx := context.Background()
		if err := e.src.Open(ctx); err != nil {
			t.Fatal(err)
		}
		defer e.src.Close()
		_, err := e.src.Next(ctx)
		if !errors.Is(err, capture.ErrFrameTimeout) || errors.Is(err, capture.ErrDeviceLost) {
			t.Fatalf("err = %v, want ErrFrameTimeout", err)
		}
		if got := e.clk.Now().Sub(t0); got != time.Second {
			t.Fatalf("waited %v, want the 1s frame timeout", got)
		}
		if st := e.src.Stats(); st.Timeouts != 1 {
			t.Fatalf("Stats = %+v", st)
		}
	})
	t.Run("only garbage", func(t *testing.T) {
		e := newEnv(t, Options{Formats: []FourCC{YUYV}, Width: 4, Height: 2, FrameTimeout: time.Second})
		e.dev.adv = []Advertised{{FourCC: YUYV, Sizes: []SizeRange{Discrete(4, 2)}}}
		ctx := context.Background()
		if err := e.src.Open(ctx); err != nil {
			t.Fatal(err)
		}
		defer e.src.Close()
		e.dev.onWait = func(d *fakeDev) { d.push([]byte{1, 2, 3}); d.clk.Advance(30 * time.Millisecond) }
		_, err := e.src.Next(ctx)
		if !errors.Is(err, capture.ErrFrameTimeout) {
			t.Fatalf("err = %v, want ErrFrameTimeout", err)
		}
		if st := e.src.Stats(); st.Corrupt < 30 || st.Frames != 0 {
			t.Fatalf("Stats = %+v, want ~34 corrupt", st)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		e := newEnv(t, Options{})
		if err := e.src.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer e.src.Close()
		ctx, cancel := context.WithCancel(context.Background())
		e.dev.onWait = func(*fakeDev) { cancel() }
		if _, err := e.src.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestNextDeviceLost(t *testing.T) {
	tests := []struct {
		name   string
		deqErr error
		unplug bool // remove the node and link
		lost   bool
	}{
		{"ENODEV", unix.ENODEV, false, true},
		{"EIO with the node gone", unix.EIO, true, true},
		{"timeout with the node gone", nil, true, true},
		{"EIO, node present: error after retries", unix.EIO, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{Formats: []FourCC{YUYV}, FrameTimeout: time.Second})
			ctx := context.Background()
			if err := e.src.Open(ctx); err != nil {
				t.Fatal(err)
			}
			defer e.src.Close()
			e.dev.deqErr = tc.deqErr
			if tc.unplug {
				os.Remove(filepath.Join(e.root, "dev", "video0"))
				os.Remove(filepath.Join(e.root, ByIDDir, c920))
			}
			_, err := e.src.Next(ctx)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, capture.ErrDeviceLost) != tc.lost {
				t.Fatalf("err = %v, ErrDeviceLost expected %v", err, tc.lost)
			}
		})
	}
}

func TestCloseAndReuse(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	if _, err := e.src.Next(ctx); !errors.Is(err, capture.ErrClosed) {
		t.Fatalf("Next before Open = %v", err)
	}
	if err := e.src.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.src.Close(); err != nil || !e.dev.closed {
		t.Fatalf("Close: %v closed=%v", err, e.dev.closed)
	}
	if err := e.src.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := e.src.Next(ctx); !errors.Is(err, capture.ErrClosed) {
		t.Fatalf("Next after Close = %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("empty device accepted")
	}
	if _, err := New(Options{Device: "video0", Formats: []FourCC{'R' | 'G'<<8 | 'B'<<16 | '3'<<24}}); err == nil {
		t.Fatal("undecodable format accepted")
	}
	s, err := New(Options{Device: "video0", Buffers: 100})
	if err != nil || s.opts.Buffers != 32 || s.opts.Width != 640 || s.opts.FrameTimeout != 2*time.Second {
		t.Fatalf("defaults: %+v %v", s.opts, err)
	}
}

// TestWebcamFDField guards the unexported field webcamFD reads: if an
// upgrade of github.com/blackjack/webcam renames it, this fails here
// rather than on a kiosk.
func TestWebcamFDField(t *testing.T) {
	if _, err := webcamFD(new(webcam.Webcam)); err != nil {
		t.Fatal(err)
	}
}

func TestIoctlNumbers(t *testing.T) {
	// Values from linux/videodev2.h on 64-bit targets.
	if unsafeSizeofPtr() == 8 {
		if vidiocQuerycap != 0x80685600 || vidiocGFmt != 0xc0d05604 {
			t.Fatalf("QUERYCAP %#x G_FMT %#x", vidiocQuerycap, vidiocGFmt)
		}
	}
	raw := make([]byte, 48)
	put := func(i int, v uint32) {
		raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	put(0, 1280)
	put(1, 720)
	put(2, uint32(YUYV))
	put(4, 2560)
	put(5, 2560*720)
	put(10, quantFullRange)
	if p := parsePix(raw); p != (pixFormat{FourCC: YUYV, Width: 1280, Height: 720, Stride: 2560, SizeImage: 2560 * 720, Range: RangeFull}) {
		t.Fatalf("parsePix = %+v", p)
	}
}

func unsafeSizeofPtr() uintptr { return unsafe.Sizeof(uintptr(0)) }
