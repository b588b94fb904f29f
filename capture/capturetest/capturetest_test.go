package capturetest

import (
	"context"
	"errors"
	"image/color"
	"testing"

	"github.com/faceverify/faceverify/capture"
)

func TestScriptedSource(t *testing.T) {
	s := &Source{Steps: []Step{{Image: Frame(2, 2, color.White)}, {Err: ErrLost}}}
	ctx := context.Background()
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if f, err := s.Next(ctx); err != nil || f.Seq != 1 {
		t.Fatalf("frame 1: %v %v", f.Seq, err)
	}
	if _, err := s.Next(ctx); !errors.Is(err, capture.ErrDeviceLost) {
		t.Errorf("step 2: %v, want ErrDeviceLost", err)
	}
	if _, err := s.Next(ctx); !errors.Is(err, capture.ErrClosed) {
		t.Errorf("after the script: %v, want ErrClosed", err)
	}
	s.Close()
	s.Close()
	if s.Opens() != 1 || s.Closes() != 1 || s.Frames() != 1 {
		t.Errorf("counters %d %d %d", s.Opens(), s.Closes(), s.Frames())
	}
}
