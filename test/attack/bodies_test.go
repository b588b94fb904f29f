package attack

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"net/http"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/gateway/api"
)

// bombPNG is a PNG whose header declares w×h RGBA pixels with a one-byte
// (invalid) IDAT: tiny on the wire, w×h×4 bytes if decoded.
func bombPNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78})
	chunk("IEND", nil)
	return b.Bytes()
}

// TestDecompressionBomb: a selfie whose header declares 100000×100000
// pixels (40 GB decoded) is refused with 413 from its header, before any
// decode: the gateway's peak RSS barely moves and nothing is stored.
func TestDecompressionBomb(t *testing.T) {
	s := Shared(t)
	// Peak RSS is compared across each refusal: first let one analysis
	// warm the inference engine up, and wait for every analysis this
	// test starts, so that none runs during a measurement.
	warm := s.InitiateFlow(t, "person_a", NewCorrelation("bomb-warmup"))
	s.AssertStillWorks(t, s.Device, warm)
	s.WaitAttempt(t, warm)
	for _, tc := range []struct {
		name string
		png  []byte
	}{
		{"shared testdata bomb", Photo(t, "hard/bomb_header_100000x100000.png")},
		{"generated 100000x100000", bombPNG(100000, 100000)},
		{"generated 1x40000001 (one row over the pixel limit)", bombPNG(1, 40_000_001)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := s.InitiateFlow(t, "person_a", NewCorrelation("bomb"))
			before := s.VmHWM(t)
			r := s.SignedSubmit(t, s.Device, f, tc.png)
			if r.Code != http.StatusRequestEntityTooLarge || r.APIError().Code != api.CodePayloadTooLarge {
				t.Errorf("bomb: %s, want 413 %s", r, api.CodePayloadTooLarge)
			}
			// A decode would need ≥ 40 GB (or fail allocating); the
			// header check needs nothing. 64 MiB allows for unrelated
			// growth (HTTP buffers, a concurrent analysis).
			after := s.VmHWM(t)
			if grew := after - before; grew > 64<<20 {
				t.Errorf("peak RSS grew by %d MiB while refusing the bomb", grew>>20)
			}
			t.Logf("gateway peak RSS %d MiB before, %d MiB after", before>>20, after>>20)
			s.AssertUntouched(t, f)
			s.AssertStillWorks(t, s.Device, f)
			s.WaitAttempt(t, f)
		})
	}
}

// TestOversizedBodies: a request body over its limit is refused with 413
// and nothing is stored — a submission over limits.max_selfie_bytes
// (signed, so the gateway must read it to verify), a selfie just over the
// limit in a body that fits, and JSON bodies over limits.max_json_bytes.
func TestOversizedBodies(t *testing.T) {
	s := Shared(t)
	max := s.Config.Limits.MaxSelfieBytes

	t.Run("submission body", func(t *testing.T) {
		f := s.InitiateFlow(t, "person_a", NewCorrelation("big"))
		huge := append(bytes.Clone(FillerSelfie(t)), make([]byte, max)...)
		r := s.SignedSubmit(t, s.Device, f, huge)
		if r.Code != http.StatusRequestEntityTooLarge || r.APIError().Code != api.CodePayloadTooLarge {
			t.Errorf("oversized submission: %s, want 413", r)
		}
		s.AssertUntouched(t, f)
		s.AssertStillWorks(t, s.Device, f)
	})
	t.Run("selfie over max_selfie_bytes", func(t *testing.T) {
		f := s.InitiateFlow(t, "person_a", NewCorrelation("big"))
		big := append(bytes.Clone(FillerSelfie(t)), make([]byte, max)...)[:max+1]
		r := s.SignedSubmit(t, s.Device, f, big)
		if r.Code != http.StatusRequestEntityTooLarge || r.APIError().Code != api.CodePayloadTooLarge {
			t.Errorf("selfie of max+1 bytes: %s, want 413", r)
		}
		s.AssertUntouched(t, f)
		s.AssertStillWorks(t, s.Device, f)
	})
	t.Run("flow request", func(t *testing.T) {
		before := s.Count(t, "flows")
		pad := strings.Repeat("x", int(s.Config.Limits.MaxJSONBytes))
		r := s.Initiate(t, PartnerA, api.InitiateRequest{PartnerUserID: "person_a", PartnerUserIDType: pad, Flow: api.FlowSelfie, CorrelationID: NewCorrelation("big")})
		if r.Code != http.StatusRequestEntityTooLarge || r.APIError().Code != api.CodePayloadTooLarge {
			t.Errorf("oversized flow request: %s, want 413", r)
		}
		if n := s.Count(t, "flows"); n != before {
			t.Errorf("flows: %d after the refusal, %d before", n, before)
		}
	})
	t.Run("token request", func(t *testing.T) {
		r := s.PostJSON(t, api.PathToken, "", api.TokenRequest{ClientID: PartnerA, Passkey: strings.Repeat("p", int(s.Config.Limits.MaxJSONBytes))})
		if r.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized token request: %s, want 413", r)
		}
	})
}
