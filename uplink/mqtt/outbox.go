package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faceverify/faceverify/internal/atomicfile"
)

// outbox is the bounded queue of events not yet acknowledged by the
// broker, in seq order, kept on disk when dir is set (one file per event,
// dir/outbox/<seq>.json, and the last seq in dir/seq). When full, the
// oldest event is dropped.
type outbox struct {
	dir string // "" keeps events in memory only
	max int
	log *slog.Logger

	mu        sync.Mutex
	q         []outboxItem
	seq       uint64
	dropped   uint64
	diskErrAt time.Time // last disk error logged (rate limit)
	gap       string    // GapRestart until the first event after a jump is queued
}

type outboxItem struct {
	seq     uint64
	payload []byte
}

const (
	seqFile    = "seq"
	cleanFile  = "clean"
	outboxDir  = "outbox"
	fileSuffix = ".json"
	tmpPrefix  = atomicfile.TempPrefix
)

// openOutbox loads the outbox in dir (created 0700 if missing). Corrupt
// event files are removed and logged.
func openOutbox(dir string, max int, log *slog.Logger) (*outbox, error) {
	o := &outbox{dir: dir, max: max, log: log}
	if dir == "" {
		return o, nil
	}
	if err := os.MkdirAll(filepath.Join(dir, outboxDir), 0o700); err != nil {
		return nil, fmt.Errorf("mqtt outbox: %w", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, seqFile)); err == nil {
		n, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if perr != nil {
			log.Warn("mqtt: sequence file unreadable, continuing from the outbox", "path", filepath.Join(dir, seqFile), "err", perr)
		}
		o.seq = n
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("mqtt outbox: %w", err)
	}
	if err := removeTempFiles(dir); err != nil {
		return nil, fmt.Errorf("mqtt outbox: %w", err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, outboxDir))
	if err != nil {
		return nil, fmt.Errorf("mqtt outbox: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		path := filepath.Join(dir, outboxDir, name)
		seq, ok := parseOutboxName(name)
		if !ok {
			if strings.HasPrefix(name, tmpPrefix) {
				os.Remove(path) // a write cut short
			}
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil || !json.Valid(b) {
			log.Warn("mqtt: corrupt outbox file removed", "path", path, "err", err)
			os.Remove(path)
			continue
		}
		o.q = append(o.q, outboxItem{seq: seq, payload: b})
	}
	sort.Slice(o.q, func(i, j int) bool { return o.q[i].seq < o.q[j].seq })
	if n := len(o.q); n > 0 && o.q[n-1].seq > o.seq {
		o.seq = o.q[n-1].seq
	}
	clean := filepath.Join(dir, cleanFile)
	if _, err := os.Stat(clean); err == nil {
		os.Remove(clean)
	} else if o.seq > 0 {
		o.seq += UncleanSeqJump
		o.gap = GapRestart
		log.Info("mqtt: previous run did not stop cleanly, event sequence jumps", "seq", o.seq)
	}
	for len(o.q) > o.max {
		o.dropOldestLocked()
	}
	return o, nil
}

// removeTempFiles removes the temporary files of writes cut short
// (".tmp-*", from writeFileAtomic and atomicfile.WriteFile) in dir itself: the
// sequence and nonce files are written there. Those under dir/outbox are
// removed while the outbox is read.
func removeTempFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) && e.Type().IsRegular() {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// parseOutboxName reads the seq of "<20 digits>.json".
func parseOutboxName(name string) (uint64, bool) {
	if len(name) != 20+len(fileSuffix) || !strings.HasSuffix(name, fileSuffix) {
		return 0, false
	}
	n, err := strconv.ParseUint(name[:20], 10, 64)
	return n, err == nil
}

func (o *outbox) path(seq uint64) string {
	return filepath.Join(o.dir, outboxDir, fmt.Sprintf("%020d%s", seq, fileSuffix))
}

// add takes the next seq, builds the payload with it (and gap, "" or
// GapRestart for the first event after a jump) and queues it. It returns
// the seq and whether the oldest event was dropped to make room.
func (o *outbox) add(build func(seq uint64, gap string) []byte) (uint64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	it := outboxItem{seq: o.seq, payload: build(o.seq, o.gap)}
	o.gap = ""
	if o.dir != "" {
		err := writeFileAtomic(o.path(it.seq), it.payload)
		if err == nil {
			err = writeFileAtomic(filepath.Join(o.dir, seqFile), []byte(strconv.FormatUint(o.seq, 10)+"\n"))
		}
		if err != nil && time.Since(o.diskErrAt) > time.Minute {
			o.diskErrAt = time.Now()
			o.log.Warn("mqtt: outbox write failed, event kept in memory only", "seq", it.seq, "err", err)
		}
	}
	o.q = append(o.q, it)
	dropped := false
	for len(o.q) > o.max {
		o.dropOldestLocked()
		dropped = true
	}
	return it.seq, dropped
}

func (o *outbox) dropOldestLocked() {
	if o.dir != "" {
		os.Remove(o.path(o.q[0].seq))
	}
	o.q = o.q[1:]
	o.dropped++
}

// head returns the oldest queued event.
func (o *outbox) head() (outboxItem, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.q) == 0 {
		return outboxItem{}, false
	}
	return o.q[0], true
}

// remove deletes the event seq after the broker acknowledged it; it is a
// no-op when seq was dropped meanwhile.
func (o *outbox) remove(seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, it := range o.q {
		if it.seq == seq {
			o.q = append(o.q[:i], o.q[i+1:]...)
			if o.dir != "" {
				os.Remove(o.path(seq))
			}
			return
		}
	}
}

func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.q)
}

func (o *outbox) droppedTotal() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped
}

// close marks a clean stop: the sequence file is synced and the clean
// marker written, so the next run continues without a jump.
func (o *outbox) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dir == "" {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(o.dir, seqFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("mqtt outbox: %w", err)
	}
	_, err = f.WriteString(strconv.FormatUint(o.seq, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = writeFileAtomic(filepath.Join(o.dir, cleanFile), nil)
	}
	if err != nil {
		return fmt.Errorf("mqtt outbox: %w", err)
	}
	return nil
}

// writeFileAtomic writes b to path through a temporary file (".tmp-*" in
// path's directory, removed by openOutbox if left behind) and a rename, so
// a reader sees the old or the new content, never a part.
func writeFileAtomic(path string, b []byte) error {
	return atomicfile.Write(path, b, atomicfile.Options{NoSync: true})
}
