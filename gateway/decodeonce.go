package gateway

import (
	"crypto/sha256"
	"image"
	"sync"
	"time"
)

// Each selfie is decoded once per process: the upload handler decodes it to
// refuse an unusable capture before it is stored (checkSelfie), and keeps
// the decoded image, still counted against the decode budget, for the
// worker that claims the submission here. The hand-over is keyed by the
// SHA-256 of the selfie's bytes. At most decodedKept images wait, each at
// most decodedTTL; the oldest is released to make room, and a worker of
// another replica (or after a restart) simply decodes again.

// decodedTTL bounds how long a decoded selfie waits for its worker.
const decodedTTL = 30 * time.Second

// decodedSelfies holds decoded selfies between upload and analysis.
type decodedSelfies struct {
	mu    sync.Mutex
	max   int
	items map[[32]byte]*decodedSelfie
}

type decodedSelfie struct {
	img     image.Image
	release func() // returns its decode budget
	at      time.Time
}

func newDecodedSelfies(max int) *decodedSelfies {
	return &decodedSelfies{max: max, items: map[[32]byte]*decodedSelfie{}}
}

// put keeps img (holding budget until release) for the selfie with bytes
// digest; it releases what it evicts or cannot keep.
func (d *decodedSelfies) put(digest [32]byte, img image.Image, release func()) {
	now := time.Now()
	var drop []func()
	d.mu.Lock()
	for k, it := range d.items {
		if now.Sub(it.at) > decodedTTL {
			drop = append(drop, it.release)
			delete(d.items, k)
		}
	}
	if old, ok := d.items[digest]; ok {
		drop = append(drop, old.release)
		delete(d.items, digest)
	}
	for len(d.items) >= d.max && len(d.items) > 0 {
		var oldest [32]byte
		var at time.Time
		for k, it := range d.items {
			if at.IsZero() || it.at.Before(at) {
				oldest, at = k, it.at
			}
		}
		drop = append(drop, d.items[oldest].release)
		delete(d.items, oldest)
	}
	if d.max > 0 {
		d.items[digest] = &decodedSelfie{img: img, release: release, at: now}
	} else {
		drop = append(drop, release)
	}
	d.mu.Unlock()
	for _, r := range drop {
		r()
	}
}

// take removes and returns the decoded selfie with these bytes.
func (d *decodedSelfies) take(selfie []byte) (image.Image, func(), bool) {
	digest := sha256.Sum256(selfie)
	d.mu.Lock()
	it, ok := d.items[digest]
	delete(d.items, digest)
	d.mu.Unlock()
	if !ok {
		return nil, nil, false
	}
	return it.img, it.release, true
}

// drop releases the decoded selfie with this digest, if kept.
func (d *decodedSelfies) drop(digest [32]byte) {
	d.mu.Lock()
	it, ok := d.items[digest]
	delete(d.items, digest)
	d.mu.Unlock()
	if ok {
		it.release()
	}
}
