package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/faceverify/faceverify/agent/config"
	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/capture/v4l2"
)

const cameraUsage = `usage: faceagent camera <command> [flags]

Commands:
  list [-json]          list video devices: by-id names, driver, card,
                        pixel formats (FourCC), frame sizes and rates
  grab -device D -n N -out DIR [-format MJPG|YUYV] [-width W -height H -fps F]
                        grab N frames into DIR as JPEG files; print the
                        granted format, measured fps, dropped/corrupt frames
  selftest -device D [-frames N] [-format F] [-width W -height H -fps F] [-json]
                        negotiate, grab frames, check their size and that
                        they change; print the measured fps

D is /dev/videoN, a /dev/v4l/by-id path or part of a by-id name.
Exit status: 0 ok, 1 camera error or failed check, 2 usage error.
`

// cameraMain runs `faceagent camera …` and returns the exit status.
func cameraMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, cameraUsage)
		return 2
	}
	switch args[0] {
	case "list":
		return cameraList(args[1:], stdout, stderr)
	case "grab":
		return cameraGrab(ctx, args[1:], stdout, stderr)
	case "selftest":
		return cameraSelfTest(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, cameraUsage)
		return 0
	}
	fmt.Fprintf(stderr, "faceagent camera: unknown command %q\n%s", args[0], cameraUsage)
	return 2
}

// camFlags are the capture flags grab and selftest share.
type camFlags struct {
	device, format, root string
	width, height        int
	fps                  float64
	timeout              time.Duration
}

func (c *camFlags) register(fs *flag.FlagSet, fps float64) {
	fs.StringVar(&c.device, "device", "/dev/video0", "camera: /dev/videoN, a /dev/v4l/by-id path or part of a by-id name")
	fs.StringVar(&c.format, "format", "", "pixel format MJPG or YUYV (default: MJPG, then YUYV)")
	fs.IntVar(&c.width, "width", v4l2.DefaultWidth, "requested width, pixels")
	fs.IntVar(&c.height, "height", v4l2.DefaultHeight, "requested height, pixels")
	fs.Float64Var(&c.fps, "fps", fps, "requested frame rate, frames per second")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "per-frame timeout")
	fs.StringVar(&c.root, "root", "/", "filesystem root for /dev (tests)")
}

func (c *camFlags) formats() ([]v4l2.FourCC, error) {
	if c.format == "" {
		return nil, nil
	}
	f, err := v4l2.ParseFourCC(c.format)
	if err != nil || !v4l2.Supported(f) {
		return nil, fmt.Errorf("-format must be MJPG or YUYV, got %q", c.format)
	}
	return []v4l2.FourCC{f}, nil
}

// parseFlags parses args into fs; it returns -1 to go on, or an exit status.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) int {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "faceagent camera %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return 2
	}
	return -1
}

func cameraList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	root := fs.String("root", "/", "filesystem root for /dev (tests)")
	if rc := parseFlags(fs, args, stderr); rc >= 0 {
		return rc
	}
	devs, err := v4l2.List(*root)
	if err != nil {
		fmt.Fprintln(stderr, "faceagent camera list:", err)
		return 1
	}
	if *asJSON {
		if devs == nil {
			devs = []v4l2.DeviceInfo{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(devs)
		return 0
	}
	if len(devs) == 0 {
		fmt.Fprintln(stdout, "no video devices")
		return 0
	}
	for _, d := range devs {
		fmt.Fprint(stdout, d.String())
	}
	return 0
}

func cameraGrab(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("grab", flag.ContinueOnError)
	var cf camFlags
	cf.register(fs, v4l2.DefaultFPS)
	n := fs.Int("n", 10, "frames to grab, 1–1000")
	out := fs.String("out", "", "directory for the JPEG files (created)")
	quality := fs.Int("quality", 90, "JPEG quality for raw (YUYV) frames, 1–100")
	if rc := parseFlags(fs, args, stderr); rc >= 0 {
		return rc
	}
	formats, err := cf.formats()
	switch {
	case err != nil:
		fmt.Fprintln(stderr, "faceagent camera grab:", err)
		return 2
	case *out == "":
		fmt.Fprintln(stderr, "faceagent camera grab: -out is required")
		return 2
	case *n < 1 || *n > 1000:
		fmt.Fprintf(stderr, "faceagent camera grab: -n must be in [1,1000], got %d\n", *n)
		return 2
	case *quality < 1 || *quality > 100:
		fmt.Fprintf(stderr, "faceagent camera grab: -quality must be in [1,100], got %d\n", *quality)
		return 2
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(stderr, "faceagent camera grab:", err)
		return 1
	}
	src, err := v4l2.New(v4l2.Options{
		Device: cf.device, Root: cf.root, Formats: formats, Width: cf.width, Height: cf.height,
		FPS: cf.fps, FrameTimeout: cf.timeout, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Fprintln(stderr, "faceagent camera grab:", err)
		return 2
	}
	if err := src.Open(ctx); err != nil {
		fmt.Fprintln(stderr, "faceagent camera grab:", err)
		return 1
	}
	defer src.Close()
	g := src.Granted()
	fmt.Fprintln(stdout, grantedLine(g, cf))

	// Frames are written by a second goroutine so that encoding does not
	// slow the capture being measured.
	frames := make(chan capture.Frame, *n)
	werr := make(chan error, 1)
	go func() {
		var first error
		for f := range frames {
			if err := writeFrame(*out, f, *quality); err != nil && first == nil {
				first = err
			}
		}
		werr <- first
	}()
	var firstAt, lastAt time.Time
	got := 0
	var capErr error
	for got < *n {
		f, err := src.Next(ctx)
		if err != nil {
			capErr = err
			break
		}
		if got == 0 {
			firstAt = f.At
		}
		lastAt = f.At
		got++
		frames <- f
	}
	close(frames)
	writeErr := <-werr
	st := src.Stats()
	fps := 0.0
	if span := lastAt.Sub(firstAt); got > 1 && span > 0 {
		fps = float64(got-1) / span.Seconds()
	}
	fmt.Fprintf(stdout, "wrote %d frames to %s: measured %.2f fps over %v; dropped %d, corrupt %d, timeouts %d\n",
		got, *out, fps, lastAt.Sub(firstAt).Round(time.Millisecond), st.Dropped, st.Corrupt, st.Timeouts)
	switch {
	case capErr != nil && ctx.Err() != nil:
		fmt.Fprintln(stderr, "faceagent camera grab: interrupted")
		return 1
	case capErr != nil:
		fmt.Fprintln(stderr, "faceagent camera grab:", capErr)
		return 1
	case writeErr != nil:
		fmt.Fprintln(stderr, "faceagent camera grab:", writeErr)
		return 1
	}
	return 0
}

// grantedLine describes what the driver granted against what was asked.
func grantedLine(g v4l2.Granted, cf camFlags) string {
	asked := cf.format
	if asked == "" {
		asked = "MJPG,YUYV"
	}
	dev := g.Device
	if g.ByID != "" {
		dev += " (" + g.ByID + ")"
	}
	return fmt.Sprintf("camera %s: %s, driver %s; granted %s %dx%d @ %g fps (asked %s %dx%d @ %g fps)",
		dev, g.Card, g.Driver, g.Format, g.Width, g.Height, g.FPS, asked, cf.width, cf.height, cf.fps)
}

// writeFrame writes f as DIR/frame-SEQ.jpg: the camera's own JPEG for
// MJPEG (with Huffman tables), else an encoding of the image.
func writeFrame(dir string, f capture.Frame, quality int) error {
	p := filepath.Join(dir, fmt.Sprintf("frame-%04d.jpg", f.Seq))
	if f.JPEG != nil {
		return os.WriteFile(p, f.JPEG, 0o644)
	}
	fh, err := os.Create(p)
	if err != nil {
		return err
	}
	if err := jpeg.Encode(fh, f.Image, &jpeg.Options{Quality: quality}); err != nil {
		fh.Close()
		return fmt.Errorf("encode %s: %w", p, err)
	}
	return fh.Close()
}

func cameraSelfTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("selftest", flag.ContinueOnError)
	var cf camFlags
	cf.register(fs, 25)
	n := fs.Int("frames", 30, "frames to grab, ≥ 2")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if rc := parseFlags(fs, args, stderr); rc >= 0 {
		return rc
	}
	formats, err := cf.formats()
	if err != nil {
		fmt.Fprintln(stderr, "faceagent camera selftest:", err)
		return 2
	}
	if *n < 2 {
		fmt.Fprintf(stderr, "faceagent camera selftest: -frames must be ≥ 2, got %d\n", *n)
		return 2
	}
	rep, err := v4l2.SelfTest(ctx, cf.device, v4l2.SelfTestOptions{
		Root: cf.root, Formats: formats, Width: cf.width, Height: cf.height, FPS: cf.fps,
		Frames: *n, FrameTimeout: cf.timeout,
	})
	if *asJSON {
		out := struct {
			v4l2.SelfTestReport
			Error string `json:"error,omitempty"`
		}{SelfTestReport: rep}
		if err != nil {
			out.Error = err.Error()
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	} else {
		if rep.Granted.Format != "" {
			fmt.Fprintln(stdout, grantedLine(rep.Granted, cf))
			fmt.Fprintf(stdout, "frames %d (distinct %d, wrong size %d), measured %.2f fps, open %v; dropped %d, corrupt %d, timeouts %d\n",
				rep.Frames, rep.Distinct, rep.WrongSize, rep.MeasuredFPS, rep.OpenTime.Round(time.Millisecond),
				rep.Stats.Dropped, rep.Stats.Corrupt, rep.Stats.Timeouts)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "faceagent camera selftest: FAIL:", err)
		return 1
	}
	fmt.Fprintln(stdout, "camera selftest: PASS")
	return 0
}

// newV4L2Source builds the supervised V4L2 camera of capture.source =
// "v4l2": absent at start or unplugged later, the agent runs on degraded
// and the camera is reopened when it comes back.
func newV4L2Source(cfg config.Config, logger *slog.Logger) (capture.Source, error) {
	c := cfg.Capture
	var formats []v4l2.FourCC
	for i, s := range c.Formats {
		f, err := v4l2.ParseFourCC(s)
		if err != nil {
			return nil, fmt.Errorf("capture.formats[%d]: %w", i, err)
		}
		formats = append(formats, f)
	}
	src, err := v4l2.New(v4l2.Options{
		Device: c.Device, Formats: formats, Width: c.Width, Height: c.Height, FPS: c.FPS,
		FrameTimeout: c.FrameTimeout, Buffers: c.Buffers, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	return capture.NewSupervisor(src, capture.SupervisorOptions{Logger: logger}), nil
}
