package agent

import "testing"

func TestRoundTrackerOnePerRound(t *testing.T) {
	var r roundTracker
	a := r.get("s1", 1)
	for _, c := range []struct {
		sid  string
		gen  uint64
		same bool // the tracker of the previous call
	}{
		{"s1", 1, true},
		{"s1", 2, false}, // next capture round
		{"s1", 2, true},
		{"s2", 2, false}, // another session
	} {
		b := r.get(c.sid, c.gen)
		if (a == b) != c.same {
			t.Fatalf("get(%s, %d): same tracker %v, want %v", c.sid, c.gen, a == b, c.same)
		}
		a = b
	}
}
