package gateway

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"
)

func TestSelfieBundle(t *testing.T) {
	jpeg := []byte{0xff, 0xd8, 0xff, 0xe0, 1, 2, 3}
	png := []byte{0x89, 'P', 'N', 'G', 4, 5}
	tests := []struct {
		name   string
		selfie []byte
		extras [][]byte
	}{
		{"selfie alone is stored bare", jpeg, nil},
		{"one extra", jpeg, [][]byte{png}},
		{"two extras", png, [][]byte{jpeg, bytes.Repeat([]byte{7}, 300)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			packed := packSelfies(tt.selfie, tt.extras)
			if len(tt.extras) == 0 && !bytes.Equal(packed, tt.selfie) {
				t.Fatalf("a selfie without extras is packed as %x", packed)
			}
			s, ex, err := unpackSelfies(packed)
			if err != nil || !bytes.Equal(s, tt.selfie) || !slices.EqualFunc(ex, tt.extras, bytes.Equal) {
				t.Fatalf("unpack: %x %x %v", s, ex, err)
			}
		})
	}
	bad := map[string][]byte{
		"no count":           bundleMagic,
		"zero images":        append(slices.Clone(bundleMagic), 0),
		"too many images":    append(slices.Clone(bundleMagic), 4),
		"length past end":    append(slices.Clone(bundleMagic), 1, 9, 1),
		"empty image":        append(slices.Clone(bundleMagic), 2, 1, 1, 0),
		"trailing bytes":     append(slices.Clone(bundleMagic), 1, 1, 1, 1),
		"fewer than counted": append(slices.Clone(bundleMagic), 2, 1, 1),
	}
	for name, b := range bad {
		if _, _, err := unpackSelfies(b); !errors.Is(err, errBundle) {
			t.Errorf("%s: err %v, want errBundle", name, err)
		}
	}
}

func FuzzUnpackSelfies(f *testing.F) {
	f.Add([]byte{0xff, 0xd8})
	f.Add(packSelfies([]byte{1, 2}, [][]byte{{3}, {4, 5}}))
	f.Add(append(slices.Clone(bundleMagic), 3, 0xff, 0xff, 0xff, 0xff, 0x0f))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, ex, err := unpackSelfies(b)
		if err != nil {
			return
		}
		if len(ex) == 0 && !bytes.Equal(s, b) {
			t.Fatalf("%x: a selfie without extras is not the bytes themselves", b)
		}
		s2, ex2, err := unpackSelfies(packSelfies(s, ex))
		if err != nil || !bytes.Equal(s2, s) || !slices.EqualFunc(ex2, ex, bytes.Equal) {
			t.Fatalf("%x: repacked differs (%v)", b, err)
		}
	})
}

func TestFuseLiveness(t *testing.T) {
	tests := []struct {
		name string
		ps   []float64
		want float64
	}{
		{"none", nil, -1},
		{"one sample is itself", []float64{0.8}, 0.8},
		{"symmetric pair cancels", []float64{0.95, 0.05}, 0.5},
		{"geometric odds", []float64{0.8, 0.5}, 2.0 / 3}, // odds √(4·1) = 2
		{"a certain sample is clamped", []float64{1, 0.05, 0.05}, 1 / (1 + math.Exp(-(math.Log(1e6-1)-2*math.Log(19))/3))},
	}
	for _, tt := range tests {
		if got := FuseLiveness(tt.ps...); math.Abs(got-tt.want) > 1e-6 {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestExtrasReferenceReplay: an extra that is a copy of the reference is
// caught even when the selfie is not.
func TestExtrasReferenceReplay(t *testing.T) {
	ref, frame := testFace(1.3)
	other, _ := testFace(0.6)
	profile := newRefProfile(ref, frame, 0)
	if copied, _ := extrasReferenceReplay(profile, []extraSample{{face: other, usable: true}}); copied {
		t.Fatal("another face taken for a copy of the reference")
	}
	copied, signals := extrasReferenceReplay(profile, []extraSample{{face: other, usable: true}, {face: ref, usable: true}})
	if !copied || len(signals) == 0 {
		t.Fatalf("copy of the reference as an extra: %v %v", copied, signals)
	}
	if copied, _ := extrasReferenceReplay(profile, []extraSample{{face: ref}}); copied {
		t.Error("an extra without an aligned face was compared")
	}
}
