package devicetest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/capture/v4l2"
)

// vivid's platform device, bound to its driver by modprobe (n_devs=1).
// Unbinding it removes its video node exactly as unplugging a USB camera
// removes a uvcvideo node; binding it again registers a new node.
const (
	vividDriver = "/sys/bus/platform/drivers/vivid"
	vividDevice = "vivid.0"
	// vividByPath is the stable name udev's 60-persistent-v4l.rules gives
	// the first video node of platform device vivid.0 (ID_PATH
	// "platform-vivid.0"). The VM has no udev: linkByPath keeps it.
	vividByPath = "/dev/v4l/by-path/platform-vivid.0-video-index0"
)

// vividNode returns vivid.0's current video node ("/dev/videoN") when the
// device is bound and its node exists, else "".
func vividNode() string {
	dirs, _ := filepath.Glob(filepath.Join("/sys/bus/platform/devices", vividDevice, "video4linux", "video*"))
	if len(dirs) == 0 {
		return ""
	}
	node := filepath.Join("/dev", filepath.Base(dirs[0]))
	if _, err := os.Stat(node); err != nil {
		return ""
	}
	return node
}

// linkByPath stands in for udev's by-path rule until ctx ends: every 5 ms
// it points vividByPath at vivid.0's current node, or removes the link
// while the device is gone.
func linkByPath(ctx context.Context, t *testing.T) {
	if err := os.MkdirAll(filepath.Dir(vividByPath), 0o755); err != nil {
		t.Errorf("udev stand-in: %v", err)
		return
	}
	defer os.Remove(vividByPath)
	for {
		want := ""
		if node := vividNode(); node != "" {
			want = filepath.Join("../..", filepath.Base(node))
		}
		if got, _ := os.Readlink(vividByPath); got != want {
			os.Remove(vividByPath)
			if want != "" {
				if err := os.Symlink(want, vividByPath); err != nil {
					t.Errorf("udev stand-in: %v", err)
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitFor polls cond every 5 ms for up to d and returns the time it took;
// it fails the test if cond never holds.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func writeSysfs(t *testing.T, file, value string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(vividDriver, file), []byte(value), 0o200); err != nil {
		t.Fatalf("%s %s: %v", file, value, err)
	}
}

// grab reads n frames through src and checks their size.
func grab(ctx context.Context, t *testing.T, src capture.Source, n, w, h int) {
	t.Helper()
	for i := 0; i < n; i++ {
		f, err := src.Next(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
		if b := f.Image.Bounds(); b.Dx() != w || b.Dy() != h {
			t.Fatalf("frame %d is %dx%d, want %dx%d", i+1, b.Dx(), b.Dy(), w, h)
		}
	}
}

// TestCameraUnplugReplug unplugs the camera mid-stream and plugs it back
// on the real kernel, through the agent's capture path: capture/v4l2 under
// a capture.Supervisor with the agent's default retry timing and the real
// clock. The camera is named by its by-path link, as a kiosk names it by
// its by-id one. It checks that:
//
//   - Next fails with capture.ErrDeviceLost promptly (well within the
//     frame timeout, i.e. from the driver's ENODEV, not from a stall);
//   - the supervisor turns degraded with CAMERA_LOST, stays so (not
//     CAMERA_ABSENT) while the camera is away, and Open fails with
//     capture.ErrNoDevice;
//   - once bound again, the supervisor reports ok by itself and a new
//     Open streams 640×480 frames again — on another /dev/videoN, since a
//     reader still holding the vanished node keeps its number reserved.
//
// Lost and back times are printed as METRIC lines for the summary.
func TestCameraUnplugReplug(t *testing.T) {
	requireVM(t)
	if _, err := os.Stat(filepath.Join(vividDriver, vividDevice)); err != nil {
		t.Fatalf("vivid platform device not bound to its driver: %v", err)
	}
	t.Cleanup(func() { // a failure half-way must not leave the camera unplugged
		if _, err := os.Stat(filepath.Join(vividDriver, vividDevice)); err != nil {
			os.WriteFile(filepath.Join(vividDriver, "bind"), []byte(vividDevice), 0o200)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	udevCtx, stopUdev := context.WithCancel(ctx)
	udevDone := make(chan struct{})
	go func() { defer close(udevDone); linkByPath(udevCtx, t) }()
	defer func() { stopUdev(); <-udevDone }()
	waitFor(t, 5*time.Second, "by-path link to vivid's node", func() bool { _, err := v4l2.Resolve("", vividByPath); return err == nil })

	const w, h, frameTimeout = 640, 480, 2 * time.Second
	src, err := v4l2.New(v4l2.Options{
		Device: vividByPath, Formats: []v4l2.FourCC{v4l2.YUYV}, Width: w, Height: h, FPS: 25,
		FrameTimeout: frameTimeout, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	sup := capture.NewSupervisor(src, capture.SupervisorOptions{Logger: logger}) // as faceagent builds it
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan struct{})
	go func() { defer close(runDone); sup.Run(runCtx) }()
	defer func() { stopRun(); <-runDone }()
	defer sup.Close()
	select {
	case <-sup.Checked():
	case <-time.After(10 * time.Second):
		t.Fatal("supervisor: first check did not finish")
	}
	if hl := sup.Health(); hl.State != capture.HealthOK {
		t.Fatalf("health before unplug = %+v, want ok", hl)
	}

	// A session streams.
	if err := sup.Open(ctx); err != nil {
		t.Fatalf("open: %v", err)
	}
	grab(ctx, t, sup, 5, w, h)
	oldNode := src.Granted().Device
	// Another reader keeps the node open across the unplug (as a client
	// that has not yet noticed would), so the kernel cannot reuse its number.
	holder, err := unix.Open(oldNode, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("hold %s: %v", oldNode, err)
	}
	defer func() {
		if holder >= 0 {
			unix.Close(holder)
		}
	}()

	// Unplug mid-stream.
	unplugged := time.Now()
	writeSysfs(t, "unbind", vividDevice)
	var nerr error
	frames := 0
	for ; frames < 50 && nerr == nil; frames++ { // frames already queued may still come
		_, nerr = sup.Next(ctx)
	}
	lostAfter := time.Since(unplugged)
	t.Logf("Next after unplug: %v (after %v, %d frames still delivered)", nerr, lostAfter.Round(time.Millisecond), frames-1)
	if !errors.Is(nerr, capture.ErrDeviceLost) {
		t.Fatalf("Next after unplug = %v, want capture.ErrDeviceLost", nerr)
	}
	if lostAfter >= frameTimeout {
		t.Fatalf("loss seen after %v, not before the %v frame timeout: the driver's error was missed", lostAfter, frameTimeout)
	}
	hl := sup.Health()
	if hl.State != capture.HealthDegraded || hl.Reason != capture.ReasonLost {
		t.Fatalf("health after unplug = %+v, want degraded %s", hl, capture.ReasonLost)
	}
	lostSince := hl.Since
	sup.Close() // the session ends, as the agent's camera worker does

	// Away: opening fails as absent, health stays CAMERA_LOST through the
	// supervisor's checks.
	if err := sup.Open(ctx); !errors.Is(err, capture.ErrNoDevice) {
		t.Fatalf("Open while unplugged = %v, want capture.ErrNoDevice", err)
	}
	// Long enough for the supervisor's check right after the loss and the
	// next one, 0.5 s later (its default RetryMin).
	time.Sleep(1200 * time.Millisecond)
	if hl := sup.Health(); hl.State != capture.HealthDegraded || hl.Reason != capture.ReasonLost || !hl.Since.Equal(lostSince) {
		t.Fatalf("health while unplugged = %+v, want degraded %s since %v", hl, capture.ReasonLost, lostSince)
	}

	// Plug back in.
	plugged := time.Now()
	writeSysfs(t, "bind", vividDevice)
	nodeAfter := waitFor(t, 10*time.Second, "vivid's video node after bind", func() bool { return vividNode() != "" })
	newNode := vividNode()
	waitFor(t, 30*time.Second, "supervisor health ok after replug", func() bool { return sup.Health().State == capture.HealthOK })
	backAfter := time.Since(plugged)
	t.Logf("camera back as %s (was %s): node after %v, health ok after %v", newNode, oldNode,
		nodeAfter.Round(time.Millisecond), backAfter.Round(time.Millisecond))
	if newNode == oldNode {
		t.Fatalf("camera came back as %s although %s was still held open", newNode, oldNode)
	}

	// A new session streams from the new node.
	opened := time.Now()
	if err := sup.Open(ctx); err != nil {
		t.Fatalf("open after replug: %v", err)
	}
	grab(ctx, t, sup, 5, w, h)
	firstFrames := time.Since(opened)
	if g := src.Granted(); g.Device != newNode || g.Format != "YUYV" || g.Width != w || g.Height != h {
		t.Fatalf("granted after replug %+v, want YUYV %dx%d on %s", g, w, h, newNode)
	}
	if hl := sup.Health(); hl.State != capture.HealthOK {
		t.Fatalf("health while streaming again = %+v", hl)
	}
	if err := sup.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	unix.Close(holder)
	holder = -1
	metric(t, "unplug_lost_ms=%d node_back_ms=%d health_ok_ms=%d reopen_5_frames_ms=%d old=%s new=%s",
		lostAfter.Milliseconds(), nodeAfter.Milliseconds(), backAfter.Milliseconds(), firstFrames.Milliseconds(), oldNode, newNode)
}
