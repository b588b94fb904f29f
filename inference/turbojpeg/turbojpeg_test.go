//go:build turbojpeg && cgo

package turbojpeg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/testenv"
)

// maxLevelDiff bounds |libjpeg-turbo − image/jpeg| per channel, in 8-bit
// levels: the two IDCTs and YCbCr → RGB conversions round differently
// (measured: at most 3 levels on the fixtures, 4 on the 28 labelled
// photos, mean 0.01–0.33).
const maxLevelDiff = 6

var limits = inference.Limits{MaxPixels: 40 << 20, MaxBytes: inference.DefaultMaxBytes, MaxDecodedBytes: inference.DefaultMaxDecodedBytes}

// install makes d the process's JPEG decoder for the rest of t.
func install(t testing.TB, d inference.JPEGDecoder) {
	t.Helper()
	inference.SetJPEGDecoder(d)
	t.Cleanup(func() { inference.SetJPEGDecoder(nil) })
}

// goDecode is DecodeWith with image/jpeg: it uninstalls any JPEG decoder
// (tests install theirs again after it).
func goDecode(t testing.TB, data []byte) (*image.RGBA, error) {
	t.Helper()
	inference.SetJPEGDecoder(nil)
	img, err := inference.DecodeWith(bytes.NewReader(data), limits)
	if err != nil {
		return nil, err
	}
	return img.(*image.RGBA), nil
}

// diff is the largest and the mean absolute difference of the R, G and B
// samples of two images of one size; ok is false when the sizes differ.
func diff(a, b *image.RGBA) (maxAbs int, mean float64, ok bool) {
	if a.Rect != b.Rect {
		return 0, 0, false
	}
	var sum, n int64
	for i := 0; i < len(a.Pix); i += 4 {
		for c := 0; c < 3; c++ {
			d := int(a.Pix[i+c]) - int(b.Pix[i+c])
			if d < 0 {
				d = -d
			}
			maxAbs = max(maxAbs, d)
			sum += int64(d)
			n++
		}
	}
	return maxAbs, float64(sum) / float64(n), true
}

func alphaOpaque(t *testing.T, img *image.RGBA) {
	t.Helper()
	for i := 3; i < len(img.Pix); i += 4 {
		if img.Pix[i] != 255 {
			t.Fatalf("alpha %d at byte %d, want 255", img.Pix[i], i)
		}
	}
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Each colour layout decodes within maxLevelDiff of image/jpeg, or is
// refused by the decoder and then decoded by image/jpeg bit for bit.
func TestLayoutsMatchImageJPEG(t *testing.T) {
	for _, c := range []struct {
		file    string
		refused bool // four components: image/jpeg decodes it
	}{
		{"ycbcr420_progressive.jpg", false},
		{"ycbcr444.jpg", false},
		{"ycbcr422.jpg", false},
		{"ycbcr440.jpg", false},
		{"rgb.jpg", false},
		{"grey_progressive.jpg", false},
		{"cmyk.jpg", true},
		{"ycck.jpg", true},
	} {
		t.Run(c.file, func(t *testing.T) {
			data := readFile(t, filepath.Join("testdata", c.file))
			want, err := goDecode(t, data)
			if err != nil {
				t.Fatal(err)
			}
			direct := image.NewRGBA(want.Rect)
			err = New().DecodeJPEG(data, direct)
			if c.refused != (err != nil) {
				t.Fatalf("DecodeJPEG: %v, want refused = %v", err, c.refused)
			}
			if err != nil && !errors.Is(err, ErrDecode) {
				t.Fatalf("DecodeJPEG: %v does not wrap ErrDecode", err)
			}
			install(t, New())
			got, release, err := inference.DecodePooled(bytes.NewReader(data), limits)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			rgba := got.(*image.RGBA)
			alphaOpaque(t, rgba)
			maxAbs, mean, ok := diff(rgba, want)
			if !ok {
				t.Fatalf("bounds %v, want %v", rgba.Rect, want.Rect)
			}
			t.Logf("max |Δ| %d, mean |Δ| %.3f levels", maxAbs, mean)
			if c.refused && maxAbs != 0 {
				t.Errorf("refused file: max |Δ| %d from image/jpeg, want 0 (its own decode)", maxAbs)
			}
			if maxAbs > maxLevelDiff {
				t.Errorf("max |Δ| %d levels, want ≤ %d", maxAbs, maxLevelDiff)
			}
			if !c.refused && !bytes.Equal(rgba.Pix, direct.Pix) {
				t.Error("DecodePooled's pixels differ from DecodeJPEG's")
			}
		})
	}
}

// Every JPEG of the labelled photos decodes as image/jpeg decodes it:
// within maxLevelDiff per channel, or to the same kind of error.
func TestSharedPhotosMatchImageJPEG(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "..", "shared", "testdata")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.jpg"))
	if len(files) == 0 {
		testenv.Missing(t, "no labelled photos in %s", dir)
		return
	}
	if testing.Short() {
		files = files[:3]
	}
	var worst int
	for _, f := range files {
		name, _ := filepath.Rel(dir, f)
		data := readFile(t, f)
		want, wantErr := goDecode(t, data)
		install(t, New())
		got, release, err := inference.DecodePooled(bytes.NewReader(data), limits)
		inference.SetJPEGDecoder(nil)
		if wantErr != nil || err != nil {
			if !sameKind(err, wantErr) {
				t.Errorf("%s: error %v, image/jpeg %v", name, err, wantErr)
			}
			release()
			continue
		}
		maxAbs, mean, ok := diff(got.(*image.RGBA), want)
		release()
		if !ok {
			t.Errorf("%s: bounds %v, want %v", name, got.Bounds(), want.Rect)
			continue
		}
		worst = max(worst, maxAbs)
		t.Logf("%s %v: max |Δ| %d, mean |Δ| %.3f levels", name, want.Rect.Size(), maxAbs, mean)
		if maxAbs > maxLevelDiff {
			t.Errorf("%s: max |Δ| %d levels, want ≤ %d", name, maxAbs, maxLevelDiff)
		}
	}
	t.Logf("%d photos, worst max |Δ| %d levels", len(files), worst)
}

// sameKind: both nil, or both wrap the same sentinel of inference.
func sameKind(a, b error) bool {
	for _, s := range []error{inference.ErrDecode, inference.ErrTooLarge} {
		if errors.Is(a, s) != errors.Is(b, s) {
			return false
		}
	}
	return (a == nil) == (b == nil)
}

// withOrientation inserts an EXIF APP1 segment with Orientation o right
// after the SOI marker of a JPEG file.
func withOrientation(data []byte, o uint16) []byte {
	tiff := []byte("MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")
	binary.BigEndian.PutUint16(tiff[18:], o)
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, data[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, data[2:]...)
}

// The EXIF orientation is applied as DecodeWith applies it with
// image/jpeg: same upright size, same pixels within maxLevelDiff, for every
// value (0 and 9 are invalid: as stored).
func TestOrientations(t *testing.T) {
	base := readFile(t, "testdata/ycbcr444.jpg")
	for o := uint16(0); o <= 9; o++ {
		data := withOrientation(base, o)
		if got, want := inference.ExifOrientation(data), inference.Orientation(o); o >= 1 && o <= 8 && got != want {
			t.Fatalf("fixture orientation %d parsed as %d", o, got)
		}
		want, err := goDecode(t, data)
		if err != nil {
			t.Fatal(err)
		}
		install(t, New())
		for _, pooled := range []bool{false, true} {
			var img image.Image
			release := func() {}
			if pooled {
				img, release, err = inference.DecodePooled(bytes.NewReader(data), limits)
			} else {
				img, err = inference.DecodeWith(bytes.NewReader(data), limits)
			}
			if err != nil {
				t.Fatalf("orientation %d: %v", o, err)
			}
			maxAbs, _, ok := diff(img.(*image.RGBA), want)
			release()
			if !ok || maxAbs > maxLevelDiff {
				t.Errorf("orientation %d (pooled %v): bounds %v vs %v, max |Δ| %d", o, pooled, img.Bounds(), want.Rect, maxAbs)
			}
		}
		if want.Rect.Dx() != 67 && o >= 1 && o <= 4 || want.Rect.Dx() != 45 && o >= 5 && o <= 8 {
			t.Errorf("orientation %d: upright size %v", o, want.Rect.Size())
		}
	}
}

// counting counts the files that reach the decoder.
type counting struct {
	*Decoder
	calls atomic.Int64
}

func (c *counting) DecodeJPEG(data []byte, dst *image.RGBA) error {
	c.calls.Add(1)
	return c.Decoder.DecodeJPEG(data, dst)
}

// Limits are checked from the header and the length before the decoder
// sees the file.
func TestLimitsRefusedBeforeDecode(t *testing.T) {
	data := readFile(t, "testdata/ycbcr444.jpg") // 67×45
	c := &counting{Decoder: New()}
	install(t, c)
	for _, tc := range []struct {
		name string
		l    inference.Limits
	}{
		{"pixels", inference.Limits{MaxPixels: 67*45 - 1, MaxBytes: 1 << 20}},
		{"bytes", inference.Limits{MaxPixels: 1 << 20, MaxBytes: int64(len(data) - 1)}},
		{"decode memory", inference.Limits{MaxPixels: 1 << 20, MaxBytes: 1 << 20, MaxDecodedBytes: 1}},
	} {
		if _, err := inference.DecodeWith(bytes.NewReader(data), tc.l); !errors.Is(err, inference.ErrTooLarge) {
			t.Errorf("%s: %v, want ErrTooLarge", tc.name, err)
		}
		if _, _, err := inference.DecodePooled(bytes.NewReader(data), tc.l); !errors.Is(err, inference.ErrTooLarge) {
			t.Errorf("%s (pooled): %v, want ErrTooLarge", tc.name, err)
		}
	}
	if n := c.calls.Load(); n != 0 {
		t.Errorf("decoder called %d times for refused files", n)
	}
	if _, err := inference.DecodeWith(bytes.NewReader(data), limits); err != nil || c.calls.Load() != 1 {
		t.Errorf("within limits: %v, %d calls, want nil, 1", err, c.calls.Load())
	}
}

// Corrupt, truncated and empty files return errors (never a panic or a
// grey-filled image), and through inference the same kind of error as
// image/jpeg gives.
func TestCorruptInput(t *testing.T) {
	good := readFile(t, "testdata/ycbcr420_progressive.jpg")
	base := readFile(t, "testdata/ycbcr444.jpg")
	flipped := append([]byte{}, base...)
	for i := len(flipped) / 2; i < len(flipped)/2+40; i++ {
		flipped[i] ^= 0x5a
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"soi only", []byte{0xFF, 0xD8}},
		{"not a jpeg", []byte("hello, not an image")},
		{"scan bytes flipped", flipped},
		{"progressive, last scan cut", good[:len(good)-100]},
	}
	for _, n := range []int{len(base) - 2, len(base) * 3 / 4, len(base) / 2, 700, 400, 200} {
		cases = append(cases, struct {
			name string
			data []byte
		}{"truncated at " + itoa(n), base[:n]})
	}
	d := New()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := image.NewRGBA(image.Rect(0, 0, 67, 45))
			if err := d.DecodeJPEG(c.data, dst); err == nil {
				t.Error("DecodeJPEG: no error")
			} else if !errors.Is(err, ErrDecode) {
				t.Errorf("DecodeJPEG: %v does not wrap ErrDecode", err)
			}
			_, wantErr := goDecode(t, c.data)
			install(t, d)
			_, err := inference.DecodeWith(bytes.NewReader(c.data), limits)
			if !sameKind(err, wantErr) {
				t.Errorf("DecodeWith: %v, image/jpeg: %v", err, wantErr)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// Concurrent decodes share nothing: each gives the sequential result.
func TestConcurrentDecodes(t *testing.T) {
	files := []string{"ycbcr420_progressive.jpg", "ycbcr422.jpg", "grey_progressive.jpg", "rgb.jpg"}
	d := New()
	want := map[string][]byte{}
	for _, f := range files {
		dst := image.NewRGBA(image.Rect(0, 0, 67, 45))
		if err := d.DecodeJPEG(readFile(t, filepath.Join("testdata", f)), dst); err != nil {
			t.Fatal(err)
		}
		want[f] = dst.Pix
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 20; i++ {
				f := files[(g+i)%len(files)]
				dst := image.NewRGBA(image.Rect(0, 0, 67, 45))
				if err := d.DecodeJPEG(readFile(t, filepath.Join("testdata", f)), dst); err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(dst.Pix, want[f]) {
					t.Errorf("%s: concurrent decode differs", f)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestDestinationChecked(t *testing.T) {
	data := readFile(t, "testdata/ycbcr444.jpg")
	for _, dst := range []*image.RGBA{
		image.NewRGBA(image.Rect(0, 0, 66, 45)),                                                   // other size
		image.NewRGBA(image.Rect(1, 1, 68, 46)),                                                   // not at the origin
		image.NewRGBA(image.Rect(0, 0, 134, 45)).SubImage(image.Rect(0, 0, 67, 45)).(*image.RGBA), // stride
	} {
		if err := New().DecodeJPEG(data, dst); !errors.Is(err, ErrDecode) {
			t.Errorf("dst %v stride %d: %v, want ErrDecode", dst.Rect, dst.Stride, err)
		}
	}
}

func TestName(t *testing.T) {
	install(t, New())
	if got := inference.JPEGDecoderName(); got != "libjpeg-turbo 2.1.5" && !bytes.HasPrefix([]byte(got), []byte("libjpeg-turbo ")) {
		t.Errorf("name %q", got)
	}
}

func FuzzDecodeJPEG(f *testing.F) {
	for _, name := range []string{"ycbcr420_progressive.jpg", "grey_progressive.jpg", "rgb.jpg", "cmyk.jpg"} {
		f.Add(readFile(f, filepath.Join("testdata", name)))
	}
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 9, 7)), nil)
	f.Add(buf.Bytes())
	d := New()
	f.Fuzz(func(t *testing.T, b []byte) {
		cost, err := inference.EstimateDecode(b)
		if err != nil || cost.Format != "jpeg" || cost.Width*cost.Height > 1<<16 {
			return
		}
		dst := image.NewRGBA(image.Rect(0, 0, cost.Width, cost.Height))
		if err := d.DecodeJPEG(b, dst); err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("unwrapped error %v", err)
			}
			return
		}
		for i := 3; i < len(dst.Pix); i += 4 {
			if dst.Pix[i] != 255 {
				t.Fatalf("alpha %d", dst.Pix[i])
			}
		}
	})
}
