package mqtt

import (
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// resumeStore is paho's memory store that tells when paho has taken the
// snapshot of in-flight messages it resends after a connect (Store.All,
// called by paho's resume). Publishing before that point races with the
// resend (paho marks stored packets as duplicates while the network
// goroutine may be writing them), so the connect work waits for it.
type resumeStore struct {
	*paho.MemoryStore
	mu    sync.Mutex
	calls uint64
	ch    chan struct{} // closed and replaced on each All call
}

func newResumeStore() *resumeStore {
	return &resumeStore{MemoryStore: paho.NewMemoryStore(), ch: make(chan struct{})}
}

// All returns the stored keys and marks the snapshot.
func (s *resumeStore) All() []string {
	keys := s.MemoryStore.All()
	s.mu.Lock()
	s.calls++
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
	return keys
}

// snapshots returns how many snapshots were taken so far.
func (s *resumeStore) snapshots() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// waitSnapshot waits until more than n snapshots were taken, or d passed.
func (s *resumeStore) waitSnapshot(n uint64, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		calls, ch := s.calls, s.ch
		s.mu.Unlock()
		if calls > n {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}
