package v4l2

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faceverify/faceverify/capture"
)

// EnvTestDevice names a real camera for TestSelfTestRealDevice, e.g.
// /dev/video0 inside the qemu kernel test with the vivid module loaded.
const EnvTestDevice = "FACEVERIFY_V4L2_DEVICE"

// TestSelfTestRealDevice runs SelfTest on the camera named by
// $FACEVERIFY_V4L2_DEVICE (YUYV or MJPG, 640×480 at 25 fps, 30 frames);
// it is skipped when the variable is unset. The test binary is static and
// cgo-free: CGO_ENABLED=0 go test -c ./capture/v4l2.
func TestSelfTestRealDevice(t *testing.T) {
	dev := os.Getenv(EnvTestDevice)
	if dev == "" {
		t.Skipf("%s is unset: no real camera to test (make test-kernel sets it inside qemu with vivid)", EnvTestDevice)
	}
	devs, err := List("/")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	for _, d := range devs {
		t.Logf("device:\n%s", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := SelfTest(ctx, dev, SelfTestOptions{FPS: 25, Frames: 30, FrameTimeout: 10 * time.Second})
	b, _ := json.Marshal(rep)
	t.Logf("selftest report: %s", b)
	if err != nil {
		t.Fatalf("camera selftest on %s: %v", dev, err)
	}
	t.Logf("granted %s %dx%d @ %g fps (driver %s); measured %.2f fps over %d frames, %d distinct",
		rep.Granted.Format, rep.Granted.Width, rep.Granted.Height, rep.Granted.FPS, rep.Granted.Driver,
		rep.MeasuredFPS, rep.Frames, rep.Distinct)
}

// EnvTestUnbind is a bound device's link in its driver's sysfs directory,
// e.g. /sys/bus/platform/drivers/vivid/vivid.0: TestUnplugRealDevice
// unbinds it mid-stream (as a USB unplug does) and binds it again.
const EnvTestUnbind = "FACEVERIFY_V4L2_UNBIND"

// TestUnplugRealDevice checks that a camera vanishing mid-stream makes
// Next fail with capture.ErrDeviceLost (not hang), that Open then reports
// capture.ErrNoDevice, and that the camera opens again once it is back.
// Skipped unless $FACEVERIFY_V4L2_DEVICE and $FACEVERIFY_V4L2_UNBIND are set.
func TestUnplugRealDevice(t *testing.T) {
	dev, link := os.Getenv(EnvTestDevice), os.Getenv(EnvTestUnbind)
	if dev == "" || link == "" {
		t.Skipf("%s or %s is unset: no real camera to unplug", EnvTestDevice, EnvTestUnbind)
	}
	drv, name := filepath.Dir(link), filepath.Base(link)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, err := New(Options{Device: dev, FPS: 25, FrameTimeout: 3 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Next(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(drv, "unbind"), []byte(name), 0o200); err != nil {
		t.Fatalf("unbind %s: %v", link, err)
	}
	start := time.Now()
	var nerr error
	for i := 0; i < 10 && nerr == nil; i++ { // frames already queued may still come
		_, nerr = src.Next(ctx)
	}
	t.Logf("after unbind: %v (%v)", nerr, time.Since(start).Round(time.Millisecond))
	if !errors.Is(nerr, capture.ErrDeviceLost) {
		t.Fatalf("Next after unplug = %v, want ErrDeviceLost", nerr)
	}
	src.Close()
	if err := src.Open(ctx); !errors.Is(err, capture.ErrNoDevice) {
		t.Fatalf("Open while unplugged = %v, want ErrNoDevice", err)
	}
	if err := os.WriteFile(filepath.Join(drv, "bind"), []byte(name), 0o200); err != nil {
		t.Fatalf("bind %s: %v", link, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := src.Open(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("camera not back after bind: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := src.Next(ctx); err != nil {
		t.Fatalf("Next after re-plug: %v", err)
	}
}
