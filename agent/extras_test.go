package agent

import (
	"bytes"
	"image"
	"image/color"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/faceverify/faceverify/agent/session"
	"github.com/faceverify/faceverify/capture"
	"github.com/faceverify/faceverify/capture/capturetest"
	"github.com/faceverify/faceverify/inference"
)

// TestUploadCrops: the selfie and extras, encoded at once, come out as
// each encoded alone, in the round's order; an extra that cannot be
// cropped is left out, at most api.MaxSelfieExtra are kept, and the
// selfie's failure is the error.
func TestUploadCrops(t *testing.T) {
	cfg := testCfg()
	a := &Agent{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cand := func(c color.RGBA, box inference.Box) *session.Candidate {
		return &session.Candidate{Frame: capture.Frame{Image: capturetest.Frame(640, 480, c)}, Face: inference.Face{Box: box}}
	}
	alone := func(c *session.Candidate) []byte {
		crop, err := inference.CropFace(c.Frame.Image, c.Face.Box, cfg.Session.CropScale, cfg.Session.CropMaxSide)
		if err != nil {
			t.Fatal(err)
		}
		b, err := inference.EncodeJPEG(crop, cfg.Session.JPEGQuality)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	box := inference.Box{X: 200, Y: 150, W: 100, H: 100}
	outside := inference.Box{X: 5000, Y: 5000, W: 10, H: 10}
	s, e1, e2, e3 := cand(green, box), cand(red, box), cand(grey, box), cand(color.RGBA{10, 20, 200, 255}, box)
	bad := cand(red, outside)
	tests := []struct {
		name       string
		selfie     *session.Candidate
		extras     []*session.Candidate
		wantExtras []*session.Candidate
		wantErr    bool
	}{
		{"selfie alone", s, nil, nil, false},
		{"two extras in order", s, []*session.Candidate{e1, e2}, []*session.Candidate{e1, e2}, false},
		{"an extra outside the frame is left out", s, []*session.Candidate{bad, e2}, []*session.Candidate{e2}, false},
		{"at most two extras", s, []*session.Candidate{e1, e2, e3}, []*session.Candidate{e1, e2}, false},
		{"the selfie outside the frame fails", bad, []*session.Candidate{e1}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			selfie, extras, err := a.uploadCrops(&session.Upload{Candidate: tt.selfie, Extras: tt.extras})
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error for a selfie outside the frame")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(selfie, alone(tt.selfie)) {
				t.Error("selfie differs from its crop encoded alone")
			}
			if len(extras) != len(tt.wantExtras) {
				t.Fatalf("%d extras, want %d", len(extras), len(tt.wantExtras))
			}
			for i, w := range tt.wantExtras {
				if !bytes.Equal(extras[i], alone(w)) {
					t.Errorf("extra %d differs from frame %d's crop encoded alone", i, i)
				}
			}
		})
	}
}

// BenchmarkUploadCrops: a selfie and two extras (150 px faces in textured
// 1280×960 frames, the crops 450 px) cropped and encoded at once, as uploads do,
// and one after the other, as before. Wall time per upload; on n idle
// cores the first approaches the slowest image, the second is their sum.
//
//	go test -run '^$' -bench UploadCrops -benchmem ./agent
func BenchmarkUploadCrops(b *testing.B) {
	cfg := testCfg()
	a := &Agent{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	box := inference.Box{X: 500, Y: 300, W: 150, H: 150}
	rng := rand.New(rand.NewPCG(1, 2))
	cand := func() *session.Candidate {
		img := image.NewRGBA(image.Rect(0, 0, 1280, 960)) // texture, as a camera's: flat colour would encode for free
		for i := range img.Pix {
			img.Pix[i] = uint8(rng.IntN(256))
		}
		return &session.Candidate{Frame: capture.Frame{Image: img}, Face: inference.Face{Box: box}}
	}
	u := &session.Upload{Candidate: cand(), Extras: []*session.Candidate{cand(), cand()}}
	b.Run("at once", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := a.uploadCrops(u); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one after the other", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, c := range append([]*session.Candidate{u.Candidate}, u.Extras...) {
				crop, err := inference.CropFace(c.Frame.Image, c.Face.Box, cfg.Session.CropScale, cfg.Session.CropMaxSide)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := inference.EncodeJPEG(crop, cfg.Session.JPEGQuality); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
