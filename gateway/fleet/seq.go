package fleet

// seqWindow tracks the event sequence numbers of one device: the highest
// seen and the most recent ones, so duplicates (a redelivery after a
// reconnect) are dropped and jumps are counted as lost events.
type seqWindow struct {
	last    uint64
	seen    map[uint64]struct{}
	order   []uint64 // ring of remembered seqs, oldest first
	lastGap uint64
}

type seqResult int

const (
	seqNew       seqResult = iota // the next seq, or the first one
	seqGap                        // newer than the next one: lastGap events missed
	seqDuplicate                  // seen already
	seqStale                      // older than the last, not seen: late delivery
)

// seqRemembered bounds the remembered seqs per device.
const seqRemembered = 1024

func newSeqWindow() *seqWindow { return &seqWindow{seen: map[uint64]struct{}{}} }

func (w *seqWindow) remember(seq uint64) {
	w.seen[seq] = struct{}{}
	w.order = append(w.order, seq)
	if len(w.order) > seqRemembered {
		delete(w.seen, w.order[0])
		w.order = w.order[1:]
	}
}

// add classifies seq and records it. A seq far below the last one (or 1
// again) means the device started a new sequence (its state was wiped):
// the window restarts there.
func (w *seqWindow) add(seq uint64) seqResult {
	if _, dup := w.seen[seq]; dup {
		return seqDuplicate
	}
	switch {
	case w.last == 0 || seq == w.last+1:
		w.last = seq
		w.remember(seq)
		return seqNew
	case seq > w.last:
		w.lastGap = seq - w.last - 1
		w.last = seq
		w.remember(seq)
		return seqGap
	case seq == 1 || w.last-seq > seqRemembered:
		*w = *newSeqWindow()
		w.last = seq
		w.remember(seq)
		return seqNew
	}
	w.remember(seq)
	return seqStale
}
