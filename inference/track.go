package inference

import "sync"

// TrackIoU is the overlap (intersection over union) a detection needs with
// a face confirmed on the previous analysed frame of the round to count as
// the same face. A person holding still in front of a kiosk moves a few
// pixels between analysed frames (IoU > 0.8); a face entering the frame or
// another face elsewhere overlaps far less.
const TrackIoU = 0.5

// Tracker remembers, for one capture round (one camera opening, one person
// in front of the kiosk), the faces whose detection was confirmed, so that
// the detector's confirmation pass runs once per tracked face per round
// instead of on every analysed frame. Pass the same Tracker in
// Options.Track for the frames of a round, in order, and a new one (or
// none) for the next round. Analyses of unrelated images (the gateway's
// selfies and references, `inspect`) pass none and confirm every face.
//
// Only confirmed faces are remembered: a detection that failed the
// confirmation (an animal's face, a face-like pattern) is examined again
// on every frame, and a track ends on the first analysed frame where the
// face is not detected again with IoU ≥ TrackIoU, so a face leaving and
// re-entering the view is confirmed again. What the tracker cannot tell
// is a confirmed face replaced, between two analysed frames, by a
// look-alike at the same place; the gateway analyses the uploaded selfie
// again with every face confirmed.
//
// A Tracker is safe for concurrent use; the zero value is ready.
type Tracker struct {
	mu       sync.Mutex
	tracks   []Box
	next     []Box
	confirms int
	reused   int
}

// Tracked reports whether box continues a face confirmed on the previous
// analysed frame (IoU ≥ TrackIoU). An analyser calls it for each detection
// of a frame, runs the confirmation for those not tracked, then calls
// Update with the boxes it kept.
func (t *Tracker) Tracked(box Box) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tb := range t.tracks {
		if IoU(tb, box) >= TrackIoU {
			t.reused++
			return true
		}
	}
	t.confirms++
	return false
}

// Update replaces the tracked faces by confirmed, the boxes of the faces
// kept on the frame just analysed (tracked or newly confirmed).
func (t *Tracker) Update(confirmed []Box) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next = append(t.next[:0], confirmed...)
	t.tracks, t.next = t.next, t.tracks
}

// Counts returns how many detections needed the confirmation pass and how
// many continued a tracked face, since the Tracker was made.
func (t *Tracker) Counts() (confirmed, reused int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.confirms, t.reused
}
