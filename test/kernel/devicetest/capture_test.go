package devicetest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/blackjack/webcam"

	"github.com/faceverify/faceverify/capture/v4l2"
)

// V4L2 pixel formats (videodev2.h).
const (
	fourccYUYV webcam.PixelFormat = 'Y' | 'U'<<8 | 'Y'<<16 | 'V'<<24
	fourccMJPG webcam.PixelFormat = 'M' | 'J'<<8 | 'P'<<16 | 'G'<<24
)

// captureNode returns the first /dev/videoN that opens as a streaming
// capture device.
func captureNode(t *testing.T) (string, *webcam.Webcam) {
	t.Helper()
	nodes, _ := filepath.Glob("/dev/video*")
	sort.Strings(nodes)
	if len(nodes) == 0 {
		t.Fatal("no /dev/video* node: is vivid loaded?")
	}
	for _, n := range nodes {
		cam, err := webcam.Open(n)
		if err == nil {
			return n, cam
		}
		t.Logf("%s: %v", n, err)
	}
	t.Fatalf("none of %v opens as a capture device", nodes)
	return "", nil
}

// TestV4L2Smoke negotiates YUYV 640×480 at 25 fps on vivid through
// github.com/blackjack/webcam, grabs frames, checks their size and that
// they change, and reports the measured frame rate.
func TestV4L2Smoke(t *testing.T) {
	requireVM(t)
	node, cam := captureNode(t)
	defer cam.Close()
	name, _ := cam.GetName()
	t.Logf("camera %s: %q", node, name)

	formats := cam.GetSupportedFormats()
	for f, desc := range formats {
		sizes := cam.GetSupportedFrameSizes(f)
		var maxW, maxH uint32
		for _, s := range sizes {
			maxW, maxH = max(maxW, s.MaxWidth), max(maxH, s.MaxHeight)
		}
		t.Logf("format %q (%#x): %d frame sizes, largest %dx%d", desc, uint32(f), len(sizes), maxW, maxH)
	}
	if _, ok := formats[fourccYUYV]; !ok {
		t.Fatalf("vivid does not offer YUYV; formats %v", formats)
	}
	_, mjpeg := formats[fourccMJPG]
	metric(t, "vivid_mjpeg=%v", mjpeg)

	const w, h, wantFPS = 640, 480, 25
	got, _, _, err := cam.SetImageFormat(fourccYUYV, w, h)
	if err != nil {
		t.Fatalf("set YUYV %dx%d: %v", w, h, err)
	}
	if got != fourccYUYV {
		t.Fatalf("driver chose format %#x, want YUYV", uint32(got))
	}
	if fps, err := cam.GetFramerate(); err == nil {
		metric(t, "vivid_default_fps=%.1f", fps)
	}
	if err := cam.SetFramerate(wantFPS); err != nil {
		t.Fatalf("set %d fps: %v", wantFPS, err)
	}
	if fps, err := cam.GetFramerate(); err == nil {
		t.Logf("frame rate granted: %.1f fps", fps)
	}
	if err := cam.SetBufferCount(4); err != nil {
		t.Fatal(err)
	}
	if err := cam.StartStreaming(); err != nil {
		t.Fatalf("stream on: %v", err)
	}
	defer cam.StopStreaming()

	const n = 50
	frames := make([][]byte, 0, n)
	var first, last time.Time
	for len(frames) < n {
		if err := cam.WaitForFrame(5); err != nil {
			var to *webcam.Timeout
			if errors.As(err, &to) {
				t.Fatalf("no frame within 5s after %d frames", len(frames))
			}
			t.Fatalf("wait for frame: %v", err)
		}
		buf, idx, err := cam.GetFrame()
		if err != nil {
			t.Fatalf("dequeue: %v", err)
		}
		// The buffer belongs to the driver again after ReleaseFrame: copy first.
		frame := bytes.Clone(buf)
		if err := cam.ReleaseFrame(idx); err != nil {
			t.Fatalf("requeue: %v", err)
		}
		now := time.Now()
		if len(frames) == 0 {
			first = now
		}
		last = now
		frames = append(frames, frame)
	}
	for i, f := range frames {
		if len(f) != w*h*2 {
			t.Fatalf("frame %d has %d bytes, want %d (YUYV %dx%d)", i, len(f), w*h*2, w, h)
		}
	}
	distinct := 0
	for i := 1; i < len(frames); i++ {
		if !bytes.Equal(frames[i], frames[i-1]) {
			distinct++
		}
	}
	if distinct == 0 {
		t.Fatalf("all %d frames are identical", n)
	}
	fps := float64(n-1) / last.Sub(first).Seconds()
	metric(t, "capture_fps=%.1f frames=%d size=%dx%d format=YUYV changed=%d/%d", fps, n, w, h, distinct, n-1)
	if fps < 1 {
		t.Fatalf("measured %.2f fps, want ≥ 1", fps)
	}
	if b, err := os.ReadFile("/sys/class/video4linux/" + filepath.Base(node) + "/name"); err == nil {
		t.Logf("sysfs name: %s", bytes.TrimSpace(b))
	}
}

// TestCaptureSelfTest runs the agent's own camera self-test
// (capture/v4l2.SelfTest: the Source the agent captures with) on vivid:
// negotiate, grab frames, check their size and that they change.
func TestCaptureSelfTest(t *testing.T) {
	requireVM(t)
	node, cam := captureNode(t)
	cam.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := v4l2.SelfTest(ctx, node, v4l2.SelfTestOptions{
		Width: 640, Height: 480, FPS: 25, Frames: 50, FrameTimeout: 10 * time.Second,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	g := rep.Granted
	t.Logf("granted %s %dx%d %.1f fps on %s (driver %s, card %q), open %v, stats %+v",
		g.Format, g.Width, g.Height, g.FPS, g.Device, g.Driver, g.Card, rep.OpenTime, rep.Stats)
	if err != nil {
		t.Fatalf("capture self-test: %v", err)
	}
	if !rep.Passed || rep.Frames != 50 || rep.Distinct < 2 || rep.WrongSize != 0 {
		t.Fatalf("self-test report %+v", rep)
	}
	if g.Format != "YUYV" || g.Width != 640 || g.Height != 480 {
		t.Fatalf("granted %s %dx%d, want YUYV 640x480 (vivid has no MJPEG)", g.Format, g.Width, g.Height)
	}
	metric(t, "selftest_fps=%.1f frames=%d distinct=%d granted=%s/%dx%d@%.0f open=%v",
		rep.MeasuredFPS, rep.Frames, rep.Distinct, g.Format, g.Width, g.Height, g.FPS, rep.OpenTime.Round(time.Millisecond))
}
