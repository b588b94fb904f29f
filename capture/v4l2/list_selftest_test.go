package v4l2

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/internal/clock"
)

func TestList(t *testing.T) {
	root := devTree(t, []string{"video0", "video1"}, map[string]string{c920: "../../video0", c920m: "../../video1"})
	dev := newFakeDev(clock.NewFake(t0))
	got, err := list(root, func(p string) (device, error) {
		if filepath.Base(p) == "video1" {
			return nil, errors.New("Not a video capture device")
		}
		return dev, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d devices", len(got))
	}
	if got[0].Path != "/dev/video0" || got[0].Driver != "fakedrv" || len(got[0].ByID) != 1 || got[0].ByID[0] != c920 {
		t.Fatalf("device 0 = %+v", got[0])
	}
	if got[1].Err == "" || got[1].Formats != nil {
		t.Fatalf("device 1 = %+v, want the open error", got[1])
	}
	if !dev.closed {
		t.Fatal("device left open")
	}
	text := got[0].String() + got[1].String()
	for _, want := range []string{
		"/dev/video0  Fake Cam (driver fakedrv, bus usb-fake-1)",
		"by-id: /dev/v4l/by-id/" + c920,
		"MJPG  Motion-JPEG",
		"YUYV  YUYV 4:2:2",
		"1280x720     30, 15 fps",
		"  error: Not a video capture device",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("list output lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "MJPG") > strings.Index(text, "YUYV") {
		t.Error("formats not sorted")
	}
}

func TestSelfTest(t *testing.T) {
	run := func(t *testing.T, frame func(i int) []byte) (SelfTestReport, error) {
		t.Helper()
		e := newEnv(t, Options{Formats: []FourCC{YUYV}, Width: 8, Height: 4, FrameTimeout: time.Second})
		e.dev.adv = []Advertised{{FourCC: YUYV, Sizes: []SizeRange{Discrete(8, 4)}}}
		i := 0
		e.dev.onWait = func(d *fakeDev) {
			d.push(frame(i))
			i++
			d.clk.Advance(40 * time.Millisecond) // 25 fps
		}
		return selfTest(context.Background(), e.src, 10)
	}
	t.Run("live", func(t *testing.T) {
		rep, err := run(t, func(i int) []byte { return yuyvFrame(8, 4, 16, byte(20+i)) })
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Passed || rep.Frames != 10 || rep.Distinct != 10 || rep.WrongSize != 0 {
			t.Fatalf("report %+v", rep)
		}
		if rep.MeasuredFPS < 24.9 || rep.MeasuredFPS > 25.1 || rep.Granted.Format != "YUYV" || rep.Granted.Width != 8 {
			t.Fatalf("fps %v granted %+v", rep.MeasuredFPS, rep.Granted)
		}
	})
	t.Run("frozen", func(t *testing.T) {
		rep, err := run(t, func(int) []byte { return yuyvFrame(8, 4, 16, 50) })
		if !errors.Is(err, ErrSelfTest) || rep.Passed || rep.Distinct != 1 {
			t.Fatalf("err %v report %+v; want identical frames to fail", err, rep)
		}
	})
	t.Run("silent", func(t *testing.T) {
		e := newEnv(t, Options{FrameTimeout: time.Second})
		_, err := selfTest(context.Background(), e.src, 3)
		if err == nil || !strings.Contains(err.Error(), "frame 1 of 3") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("absent", func(t *testing.T) {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "dev"), 0o755)
		_, err := SelfTest(context.Background(), "/dev/video7", SelfTestOptions{Root: root})
		if err == nil || !strings.Contains(err.Error(), "/dev/video7") {
			t.Fatalf("err = %v", err)
		}
	})
}

func ExampleDeviceInfo_String() {
	di := DeviceInfo{Path: "/dev/video0", Driver: "vivid", Card: "vivid", Bus: "platform:vivid-000",
		Formats: []FormatInfo{{FourCC: "YUYV", Description: "YUYV 4:2:2", Decodable: true, Sizes: []SizeInfo{{Size: "640x480", FPS: []string{"25", "5"}}}}}}
	fmt.Print(di.String())
	// Output:
	// /dev/video0  vivid (driver vivid, bus platform:vivid-000)
	//   YUYV  YUYV 4:2:2
	//     640x480      25, 5 fps
}
