package inference

import "sync"

// TrackIoU is the overlap (intersection over union) a detection needs with
// a detection of the previous analysed frame of the round to count as the
// same face. A person holding still in front of a kiosk moves a few pixels
// between analysed frames (IoU > 0.8); a face entering the frame or
// another face elsewhere overlaps far less.
const TrackIoU = 0.5

// Tracker remembers, for one capture round (one camera opening, one person
// in front of the kiosk), the detector's confirmation verdict on each
// detection, so that the confirmation pass runs once per tracked face per
// round instead of on every analysed frame. Pass the same Tracker in
// Options.Track for the frames of a round, in order, and a new one for the
// next round. Analyses of unrelated images (the gateway's selfies and
// references, `inspect`) pass none and confirm every detection.
//
// A track lasts while its detection is found again on each analysed frame
// with IoU ≥ TrackIoU; it ends on the first frame without it, so a face
// leaving and re-entering the view is confirmed again. Both verdicts are
// kept: a refused look-alike (an animal's face, a face-like pattern) stays
// refused while it stays in view, and a confirmed face stays confirmed.
// What the tracker cannot tell is one thing replaced by another at the
// same place between two analysed frames; the gateway analyses the
// uploaded selfie again with every detection confirmed.
//
// A Tracker is safe for concurrent use; the zero value is ready.
type Tracker struct {
	mu       sync.Mutex
	tracks   []track
	next     []track
	confirms int
	reused   int
}

type track struct {
	box       Box
	confirmed bool
}

// Lookup returns the verdict of the track box continues (the best overlap
// ≥ TrackIoU with a detection of the previous analysed frame): known is
// false when box starts no track, and the analyser must run the
// confirmation. An analyser calls Lookup for each detection of a frame,
// then Update with every detection's verdict.
func (t *Tracker) Lookup(box Box) (confirmed, known bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	best := TrackIoU
	for _, tr := range t.tracks {
		if iou := IoU(tr.box, box); iou >= best {
			best, confirmed, known = iou, tr.confirmed, true
		}
	}
	if known {
		t.reused++
	} else {
		t.confirms++
	}
	return confirmed, known
}

// Update replaces the tracks by the detections of the frame just analysed:
// kept are the boxes confirmed (or continuing confirmed tracks), refused
// those the confirmation refused.
func (t *Tracker) Update(kept, refused []Box) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next = t.next[:0]
	for _, b := range kept {
		t.next = append(t.next, track{box: b, confirmed: true})
	}
	for _, b := range refused {
		t.next = append(t.next, track{box: b})
	}
	t.tracks, t.next = t.next, t.tracks
}

// Counts returns how many detections needed the confirmation pass and how
// many reused the verdict of their track, since the Tracker was made.
func (t *Tracker) Counts() (confirmed, reused int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.confirms, t.reused
}
