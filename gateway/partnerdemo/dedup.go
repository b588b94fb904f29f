package partnerdemo

// dedup remembers the last capacity delivery ids (a set with FIFO
// eviction): memory is bounded by capacity × (id length + map overhead),
// about 1 MB for 10 000 ids. Not safe for concurrent use.
type dedup struct {
	ids  map[string]struct{}
	ring []string // insertion order; next is the oldest once full
	next int
}

func newDedup(capacity int) *dedup {
	return &dedup{ids: make(map[string]struct{}, capacity), ring: make([]string, 0, capacity)}
}

// add records id and reports whether it was new; the oldest id is forgotten
// when the set is full.
func (d *dedup) add(id string) bool {
	if _, ok := d.ids[id]; ok {
		return false
	}
	if len(d.ring) < cap(d.ring) {
		d.ring = append(d.ring, id)
	} else {
		delete(d.ids, d.ring[d.next])
		d.ring[d.next] = id
		d.next = (d.next + 1) % len(d.ring)
	}
	d.ids[id] = struct{}{}
	return true
}

// len is the number of ids remembered.
func (d *dedup) len() int { return len(d.ids) }
