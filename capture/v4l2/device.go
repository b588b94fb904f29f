package v4l2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"time"
	"unsafe"

	"github.com/blackjack/webcam"
	"golang.org/x/sys/unix"
)

// pixFormat is the format the driver granted (VIDIOC_G_FMT).
type pixFormat struct {
	FourCC        FourCC
	Width, Height int
	Stride        int // bytes per line
	SizeImage     int // bytes per frame (an upper bound for MJPEG)
	Range         Range
}

// capInfo is VIDIOC_QUERYCAP's identification.
type capInfo struct {
	Driver, Card, Bus string
}

// errNotReady: no frame is ready yet (poll timed out, or DQBUF EAGAIN).
var errNotReady = errors.New("no frame ready")

// errPollError: poll reported POLLERR/POLLHUP without a frame.
var errPollError = errors.New("poll error condition")

// device is the V4L2 capture device as the Source uses it; webcamDevice
// implements it on github.com/blackjack/webcam, tests use a fake.
type device interface {
	info() (capInfo, error)
	formats() []Advertised
	intervals(f FourCC, w, h int) []Interval
	// setFormat asks for f at w×h and returns what the driver granted.
	setFormat(f FourCC, w, h int) (pixFormat, error)
	// setFPS asks for fps and returns the granted rate (0 if unknown).
	setFPS(fps float64) (float64, error)
	start(buffers int) error
	// wait blocks up to d for a frame: nil when one may be ready,
	// errNotReady on timeout, errPollError, or an error.
	wait(d time.Duration) error
	// dequeue takes a filled buffer (errNotReady if none); the bytes are
	// valid until release(index).
	dequeue() ([]byte, uint32, error)
	release(index uint32) error
	close() error
}

// webcamDevice is a device on a blackjack/webcam handle. The few ioctls the
// library does not expose (VIDIOC_G_FMT to read back the granted size and
// stride, VIDIOC_QUERYCAP's driver name, poll with a millisecond timeout)
// are made here on the same file descriptor.
type webcamDevice struct {
	cam *webcam.Webcam
	fd  uintptr
}

// openWebcam opens path as a V4L2 capture device.
func openWebcam(path string) (device, error) {
	cam, err := webcam.Open(path)
	if err != nil {
		return nil, err
	}
	fd, err := webcamFD(cam)
	if err != nil {
		cam.Close()
		return nil, err
	}
	return &webcamDevice{cam: cam, fd: fd}, nil
}

// webcamFD reads the file descriptor the library keeps in its unexported
// field "fd" (blackjack/webcam v0.6.1); TestWebcamFDField guards the
// layout when the library is upgraded.
func webcamFD(cam *webcam.Webcam) (uintptr, error) {
	v := reflect.ValueOf(cam).Elem().FieldByName("fd")
	if !v.IsValid() || v.Kind() != reflect.Uintptr {
		return 0, errors.New("v4l2: unsupported github.com/blackjack/webcam version (no fd field)")
	}
	return uintptr(v.Uint()), nil
}

func (d *webcamDevice) ioctl(req uintptr, arg unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, d.fd, req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

// Linux UAPI (linux/videodev2.h) structures and request numbers.
type v4l2Capability struct {
	driver       [16]byte
	card         [32]byte
	busInfo      [32]byte
	version      uint32
	capabilities uint32
	deviceCaps   uint32
	reserved     [3]uint32
}

// v4l2Format is struct v4l2_format: the union is 200 bytes aligned like a
// pointer (it holds pointers in v4l2_window), so 208 bytes on 64-bit and
// 204 on 32-bit targets. The alignment comes from a zero-length uintptr
// array, not a pointer field the kernel could fill with garbage.
type v4l2Format struct {
	typ   uint32
	union struct {
		_   [0]uintptr
		raw [200]byte
	}
}

const (
	bufTypeVideoCapture = 1
	quantFullRange      = 1 // V4L2_QUANTIZATION_FULL_RANGE
	// _IOR('V', 0, struct v4l2_capability), _IOWR('V', 4, struct v4l2_format)
	iocRead, iocWrite = 2, 1
)

func ioc(dir, nr, size uintptr) uintptr {
	return dir<<30 | size<<16 | uintptr('V')<<8 | nr
}

var (
	vidiocQuerycap = ioc(iocRead, 0, unsafe.Sizeof(v4l2Capability{}))
	vidiocGFmt     = ioc(iocRead|iocWrite, 4, unsafe.Sizeof(v4l2Format{}))
)

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func (d *webcamDevice) info() (capInfo, error) {
	var c v4l2Capability
	if err := d.ioctl(vidiocQuerycap, unsafe.Pointer(&c)); err != nil {
		return capInfo{}, fmt.Errorf("VIDIOC_QUERYCAP: %w", err)
	}
	return capInfo{Driver: cString(c.driver[:]), Card: cString(c.card[:]), Bus: cString(c.busInfo[:])}, nil
}

func (d *webcamDevice) formats() []Advertised {
	var out []Advertised
	for pf, desc := range d.cam.GetSupportedFormats() {
		a := Advertised{FourCC: FourCC(pf), Description: desc}
		for _, s := range d.cam.GetSupportedFrameSizes(pf) {
			if s.MaxWidth == 0 || s.MaxHeight == 0 {
				continue // the library reports continuous ranges as zeros
			}
			a.Sizes = append(a.Sizes, SizeRange{
				MinW: int(s.MinWidth), MaxW: int(s.MaxWidth), StepW: int(s.StepWidth),
				MinH: int(s.MinHeight), MaxH: int(s.MaxHeight), StepH: int(s.StepHeight),
			})
		}
		out = append(out, a)
	}
	sortAdvertised(out)
	return out
}

func (d *webcamDevice) intervals(f FourCC, w, h int) []Interval {
	var out []Interval
	for _, r := range d.cam.GetSupportedFramerates(webcam.PixelFormat(f), uint32(w), uint32(h)) {
		out = append(out, Interval{MinNum: r.MinNumerator, MinDen: r.MinDenominator, MaxNum: r.MaxNumerator, MaxDen: r.MaxDenominator})
	}
	return out
}

func (d *webcamDevice) setFormat(f FourCC, w, h int) (pixFormat, error) {
	if _, _, _, err := d.cam.SetImageFormat(webcam.PixelFormat(f), uint32(w), uint32(h)); err != nil {
		return pixFormat{}, fmt.Errorf("VIDIOC_S_FMT %v %dx%d: %w", f, w, h, err)
	}
	// The library returns the requested size; read back what was granted.
	var vf v4l2Format
	vf.typ = bufTypeVideoCapture
	if err := d.ioctl(vidiocGFmt, unsafe.Pointer(&vf)); err != nil {
		return pixFormat{}, fmt.Errorf("VIDIOC_G_FMT: %w", err)
	}
	return parsePix(vf.union.raw[:]), nil
}

// parsePix decodes struct v4l2_pix_format (native byte order): width,
// height, pixelformat, field, bytesperline, sizeimage, colorspace, priv,
// flags, ycbcr_enc, quantization, xfer_func.
func parsePix(b []byte) pixFormat {
	u := func(i int) uint32 { return binary.NativeEndian.Uint32(b[4*i:]) }
	p := pixFormat{
		Width: int(u(0)), Height: int(u(1)), FourCC: FourCC(u(2)),
		Stride: int(u(4)), SizeImage: int(u(5)),
	}
	if u(10) == quantFullRange {
		p.Range = RangeFull
	}
	return p
}

func (d *webcamDevice) setFPS(fps float64) (float64, error) {
	serr := d.cam.SetFramerate(float32(fps))
	got, gerr := d.cam.GetFramerate()
	if gerr != nil {
		got = 0
	}
	if serr != nil {
		return float64(got), fmt.Errorf("VIDIOC_S_PARM %.3g fps: %w", fps, serr)
	}
	return float64(got), nil
}

func (d *webcamDevice) start(buffers int) error {
	if err := d.cam.SetBufferCount(uint32(buffers)); err != nil {
		return err
	}
	return d.cam.StartStreaming()
}

func (d *webcamDevice) wait(timeout time.Duration) error {
	ms := int(timeout / time.Millisecond)
	fds := []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, ms)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("poll: %w", err)
		case n == 0:
			return errNotReady
		case fds[0].Revents&unix.POLLIN != 0:
			return nil
		default:
			return errPollError
		}
	}
}

func (d *webcamDevice) dequeue() ([]byte, uint32, error) {
	b, i, err := d.cam.GetFrame()
	if errors.Is(err, unix.EAGAIN) {
		return nil, 0, errNotReady
	}
	return b, i, err
}

func (d *webcamDevice) release(index uint32) error { return d.cam.ReleaseFrame(index) }

func (d *webcamDevice) close() error { return d.cam.Close() }
