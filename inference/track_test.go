package inference

import "testing"

func TestTracker(t *testing.T) {
	face := Box{X: 100, Y: 100, W: 80, H: 100}
	moved := Box{X: 106, Y: 103, W: 80, H: 98} // a few pixels later: IoU ≈ 0.84
	other := Box{X: 300, Y: 100, W: 80, H: 100}
	half := Box{X: 140, Y: 100, W: 80, H: 100} // IoU = 1/3
	steps := []struct {
		name    string
		box     Box
		tracked bool
		keep    bool // the analyser keeps the face (confirmed)
	}{
		{"first sight is confirmed", face, false, true},
		{"same place is tracked", face, true, true},
		{"small move is tracked", moved, true, true},
		{"another face elsewhere is confirmed", other, false, false},
		{"a face half off its track is confirmed", half, false, true},
		{"the track followed the kept box", half, true, false},
		{"a face not kept ends its track", half, false, true},
	}
	var tr Tracker
	for _, s := range steps {
		if got := tr.Tracked(s.box); got != s.tracked {
			t.Fatalf("%s: Tracked = %v, want %v", s.name, got, s.tracked)
		}
		var kept []Box
		if s.keep {
			kept = append(kept, s.box)
		}
		tr.Update(kept)
	}
	if c, r := tr.Counts(); c != 4 || r != 3 {
		t.Fatalf("Counts = %d, %d; want 4, 3", c, r)
	}
}
