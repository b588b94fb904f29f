package attack

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/inferencetest"
)

// TestHostileJPEGs: JPEG selfies that are empty, truncated, claim
// 60000×60000 pixels in their header, or are CPU decompression bombs
// (a progressive file of 1000 near-empty scans, each one more pass over
// every block) are each refused at upload with the documented status and
// code, cost no attempt and store nothing; the bomb served as a reference
// ends the flow REFERENCE_UNAVAILABLE saying it is too large. The
// gateway is built with this test binary's tags, so with turbojpeg these
// files reach libjpeg-turbo, as its startup log shows.
func TestHostileJPEGs(t *testing.T) {
	s := Shared(t)
	good := FillerSelfie(t)
	bomb := inferencetest.JPEGScanBomb(1024, 1024, 10*inference.MaxJPEGScans)
	rows := []struct {
		name   string
		img    []byte
		status int
		code   string
	}{
		{"empty", []byte{}, http.StatusBadRequest, api.CodeBadRequest},
		{"start of image only", []byte{0xFF, 0xD8}, http.StatusBadRequest, api.CodeInvalidImage},
		{"truncated at half", good[:len(good)/2], http.StatusBadRequest, api.CodeInvalidImage},
		{"truncated before the last bytes", good[:len(good)-16], http.StatusBadRequest, api.CodeInvalidImage},
		{"header claims 60000x60000", withJPEGSize(t, good, 60000, 60000), http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge},
		{"1000 progressive scans", bomb, http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			f := s.InitiateFlow(t, "person_a", NewCorrelation("jpeg"))
			r := s.SignedSubmit(t, s.Device, f, row.img)
			if r.Code != row.status || r.APIError().Code != row.code {
				t.Errorf("got %s, want %d %s", r, row.status, row.code)
			}
			s.AssertUntouched(t, f)
			s.AssertStillWorks(t, s.Device, f)
		})
	}
	t.Run("scan bomb as the reference", func(t *testing.T) {
		s := Start(t, nil) // a selfie never seen, so that no replay check decides first
		s.Fake.SetReference(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write(bomb)
		})
		user, selfie := s.Genuine(t)
		f := s.InitiateFlowAs(t, PartnerB, user, NewCorrelation("jpeg-reference"))
		if r := s.SignedSubmit(t, s.Device, f, selfie); r.Code != http.StatusAccepted {
			t.Fatalf("selfie: %s", r)
		}
		d := s.WaitFinal(t, f)
		want := fmt.Sprintf("reference image too large: 1024x1024 jpeg has more than %d scans", inference.MaxJPEGScans)
		if d.Status != api.StatusRejected || d.Reason != api.ReasonReferenceUnavailable || !strings.Contains(d.Detail, want) {
			t.Errorf("%s/%s detail %q, want %s/%s saying %q", d.Status, d.Reason, d.Detail, api.StatusRejected, api.ReasonReferenceUnavailable, want)
		}
	})
	if slices.Contains(buildTags, "turbojpeg") {
		log, err := os.ReadFile(s.gw.logPath)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(log), "jpeg_decoder=\"libjpeg-turbo") && !strings.Contains(string(log), `"jpeg_decoder":"libjpeg-turbo`) {
			t.Errorf("built with turbojpeg, but the gateway's log does not name libjpeg-turbo as its jpeg_decoder")
		}
	}
}

// withJPEGSize returns a copy of the JPEG file b whose frame header (SOF0
// or SOF2) states w×h pixels; the scans are left as they are.
func withJPEGSize(t testing.TB, b []byte, w, h int) []byte {
	t.Helper()
	out := append([]byte{}, b...)
	for i := 2; i+9 < len(out); {
		if out[i] != 0xFF {
			break
		}
		m, n := out[i+1], int(out[i+2])<<8|int(out[i+3])
		if m == 0xC0 || m == 0xC2 {
			out[i+5], out[i+6], out[i+7], out[i+8] = byte(h>>8), byte(h), byte(w>>8), byte(w)
			return out
		}
		i += 2 + n
	}
	t.Fatal("no SOF0/SOF2 frame header")
	return nil
}
