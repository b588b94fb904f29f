package agent

import (
	"sync"

	"github.com/faceverify/faceverify/inference"
)

// roundTracker hands the analyser one inference.Tracker per capture round
// (session id and camera generation), so that each face is confirmed by
// the detector once per round rather than on every analysed frame.
type roundTracker struct {
	mu  sync.Mutex
	sid string
	gen uint64
	tr  *inference.Tracker
}

// get returns the Tracker of round (sid, gen), a new one when the round
// changed.
func (r *roundTracker) get(sid string, gen uint64) *inference.Tracker {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tr == nil || r.sid != sid || r.gen != gen {
		r.sid, r.gen, r.tr = sid, gen, new(inference.Tracker)
	}
	return r.tr
}
