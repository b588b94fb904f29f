package inference

import "testing"

func TestTracker(t *testing.T) {
	face := Box{X: 100, Y: 100, W: 80, H: 100}
	moved := Box{X: 106, Y: 103, W: 80, H: 98} // a few pixels later: IoU ≈ 0.84
	other := Box{X: 300, Y: 100, W: 80, H: 100}
	half := Box{X: 140, Y: 100, W: 80, H: 100} // IoU = 1/3
	type det struct {
		box              Box
		known, confirmed bool // Lookup's answer
		keep             bool // the analyser's verdict
	}
	frames := []struct {
		name string
		dets []det
	}{
		{"first sight needs the confirmation", []det{{face, false, false, true}, {other, false, false, false}}},
		{"both verdicts are reused", []det{{face, true, true, true}, {other, true, false, false}}},
		{"a small move continues the track", []det{{moved, true, true, true}, {other, true, false, false}}},
		{"a face half off its track is new", []det{{half, false, false, true}}},
		{"the refused track ended when not seen", []det{{half, true, true, true}, {other, false, false, true}}},
		{"an empty frame ends every track", nil},
		{"after it everything is new", []det{{half, false, false, true}}},
	}
	var tr Tracker
	for _, f := range frames {
		var kept, refused []Box
		for _, d := range f.dets {
			c, k := tr.Lookup(d.box)
			if c != d.confirmed || k != d.known {
				t.Fatalf("%s: Lookup(%+v) = %v, %v; want %v, %v", f.name, d.box, c, k, d.confirmed, d.known)
			}
			if d.keep {
				kept = append(kept, d.box)
			} else {
				refused = append(refused, d.box)
			}
		}
		tr.Update(kept, refused)
	}
	if c, r := tr.Counts(); c != 5 || r != 5 {
		t.Fatalf("Counts = %d, %d; want 5, 5", c, r)
	}
}
