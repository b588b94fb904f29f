package gateway

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faceverify/faceverify/internal/atomicfile"
)

// Selfie key errors; test with errors.Is.
var (
	// ErrSelfieKeyDestroyed: the selfie's epoch key was destroyed on
	// schedule (its epoch ended more than Erasure.KeyLifetime ago); the
	// selfie can never be read again.
	ErrSelfieKeyDestroyed = errors.New("selfie key destroyed")
	// ErrSelfieKeyNotHeld: the epoch is still live but this process does
	// not hold its key (keys in memory only and the selfie was accepted by
	// another replica or before a restart, or the key file is missing).
	ErrSelfieKeyNotHeld = errors.New("selfie key not held by this process")
	// ErrSelfieCorrupt: the sealed selfie does not authenticate (altered,
	// truncated, or moved to another submission id).
	ErrSelfieCorrupt = errors.New("sealed selfie does not authenticate")
)

// File modes of the key directory and key files, set whatever the umask.
const (
	KeyDirMode  fs.FileMode = 0o700
	KeyFileMode fs.FileMode = 0o600
)

// sealMagic starts every sealed selfie (a JPEG starts FF D8, a PNG 89 50,
// so a selfie stored in clear by an older release is told apart).
const sealMagic = "FVS1"

// sealHeader is magic (4) + epoch number (8, big-endian) + GCM nonce (12).
const sealHeader = len(sealMagic) + 8 + 12

// SelfieKeys is the crypto-shredding key ring for selfies. Each selfie is
// sealed with AES-256-GCM under the key of the epoch it was accepted in
// (epoch n covers [n·Epoch, (n+1)·Epoch) of Unix time), with the
// submission id as associated data. An epoch's key is destroyed at
// (n+1)·Epoch + KeyLifetime, after which every copy of the ciphertext — in
// the database, its WAL, free pages, replicas or backups — is unreadable.
//
// Keys live in memory only (KeyDir "") or in KeyDir, one 32-byte file per
// epoch shared by every replica that mounts it (tmpfs recommended, so keys
// never reach a disk). Safe for concurrent use, and across processes
// sharing KeyDir: a key file is created once (link of a complete temporary
// file) and destroyed by whichever process comes first.
type SelfieKeys struct {
	dir      string
	epoch    time.Duration
	lifetime time.Duration

	mu   sync.Mutex
	keys map[int64][]byte
}

// NewSelfieKeys returns the key ring of cfg (validated). With a KeyDir it
// creates the directory if missing and sets it to KeyDirMode; an error
// names erasure.key_dir.
func NewSelfieKeys(cfg ErasureConfig) (*SelfieKeys, error) {
	k := &SelfieKeys{dir: cfg.KeyDir, epoch: cfg.Epoch, lifetime: cfg.KeyLifetime, keys: map[int64][]byte{}}
	if k.dir == "" {
		return k, nil
	}
	if err := os.MkdirAll(k.dir, KeyDirMode); err != nil {
		return nil, fmt.Errorf("erasure.key_dir: %w", err)
	}
	if err := ensureMode(k.dir, KeyDirMode); err != nil {
		return nil, fmt.Errorf("erasure.key_dir: %w", err)
	}
	return k, nil
}

// ensureMode sets path's permission bits to mode (umask-independent) and
// checks they read back so.
func ensureMode(path string, mode fs.FileMode) error {
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm() != mode {
		return fmt.Errorf("%s: mode %v after chmod, want %v", path, st.Mode().Perm(), mode)
	}
	return nil
}

// epochOf is the epoch number of t.
func (k *SelfieKeys) epochOf(t time.Time) int64 {
	return t.UnixNano() / int64(k.epoch)
}

// destroyAt is when epoch n's key is destroyed.
func (k *SelfieKeys) destroyAt(n int64) time.Time {
	return time.Unix(0, (n+1)*int64(k.epoch)).Add(k.lifetime)
}

func (k *SelfieKeys) keyPath(n int64) string {
	return filepath.Join(k.dir, "epoch-"+strconv.FormatInt(n, 10)+".key")
}

// Seal encrypts a selfie accepted at now for submission id. The result
// holds no byte of the plaintext.
func (k *SelfieKeys) Seal(now time.Time, id string, plain []byte) ([]byte, error) {
	n := k.epochOf(now)
	key, err := k.key(n, true)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, sealHeader, sealHeader+len(plain)+aead.Overhead())
	copy(out, sealMagic)
	binary.BigEndian.PutUint64(out[len(sealMagic):], uint64(n))
	nonce := out[len(sealMagic)+8 : sealHeader]
	rand.Read(nonce)
	return aead.Seal(out, nonce, plain, aad(out[:len(sealMagic)+8], id)), nil
}

// Open decrypts a sealed selfie of submission id at now. Bytes that are not
// sealed (a selfie stored in clear by an older release) are returned as
// they are. Errors: ErrSelfieKeyDestroyed, ErrSelfieKeyNotHeld,
// ErrSelfieCorrupt.
func (k *SelfieKeys) Open(now time.Time, id string, sealed []byte) ([]byte, error) {
	if !IsSealedSelfie(sealed) {
		return sealed, nil
	}
	if len(sealed) < sealHeader {
		return nil, ErrSelfieCorrupt
	}
	n := int64(binary.BigEndian.Uint64(sealed[len(sealMagic):]))
	if !now.Before(k.destroyAt(n)) {
		k.Shred(now)
		return nil, fmt.Errorf("epoch %d: %w", n, ErrSelfieKeyDestroyed)
	}
	key, err := k.key(n, false)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, sealed[len(sealMagic)+8:sealHeader], sealed[sealHeader:], aad(sealed[:len(sealMagic)+8], id))
	if err != nil {
		return nil, ErrSelfieCorrupt
	}
	return plain, nil
}

// IsSealedSelfie reports whether b was produced by SelfieKeys.Seal.
func IsSealedSelfie(b []byte) bool {
	return len(b) >= len(sealMagic) && string(b[:len(sealMagic)]) == sealMagic
}

// aad binds the ciphertext to its header and submission id.
func aad(header []byte, id string) []byte {
	return append(append([]byte("faceverify selfie v1\x00"), header...), id...)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("selfie key: %w", err)
	}
	return cipher.NewGCM(block)
}

// key returns epoch n's key from memory or KeyDir, creating it when create
// is set and it does not exist yet.
func (k *SelfieKeys) key(n int64, create bool) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key, ok := k.keys[n]; ok {
		return key, nil
	}
	if k.dir == "" {
		if !create {
			return nil, fmt.Errorf("epoch %d: %w", n, ErrSelfieKeyNotHeld)
		}
		key := make([]byte, 32)
		rand.Read(key)
		k.keys[n] = key
		return key, nil
	}
	key, err := os.ReadFile(k.keyPath(n))
	switch {
	case err == nil && len(key) == 32:
		k.keys[n] = key
		return key, nil
	case err == nil:
		return nil, fmt.Errorf("selfie key %s: %d bytes, want 32", k.keyPath(n), len(key))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("selfie key: %w", err)
	case !create:
		return nil, fmt.Errorf("epoch %d: %w", n, ErrSelfieKeyNotHeld)
	}
	key, err = k.createFile(n)
	if err != nil {
		return nil, err
	}
	k.keys[n] = key
	return key, nil
}

// createFile writes a new key for epoch n to a temporary file (KeyFileMode,
// synced) and links it into place; when another process linked one first,
// that key is used.
func (k *SelfieKeys) createFile(n int64) ([]byte, error) {
	key := make([]byte, 32)
	rand.Read(key)
	var r [6]byte
	rand.Read(r[:])
	tmp := filepath.Join(k.dir, ".epoch-"+strconv.FormatInt(n, 10)+"."+hex.EncodeToString(r[:])+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, KeyFileMode)
	if err != nil {
		return nil, fmt.Errorf("selfie key: %w", err)
	}
	defer os.Remove(tmp)
	_, err = f.Write(key)
	if err == nil {
		err = f.Chmod(KeyFileMode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("selfie key: %w", err)
	}
	if err := os.Link(tmp, k.keyPath(n)); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("selfie key: %w", err)
		}
		other, rerr := os.ReadFile(k.keyPath(n))
		if rerr != nil || len(other) != 32 {
			return nil, fmt.Errorf("selfie key %s: written by another process but unreadable: %v", k.keyPath(n), rerr)
		}
		return other, nil
	}
	atomicfile.SyncDir(k.dir)
	return key, nil
}

// Shred destroys every key whose time has come at now: zeroed in memory,
// and in KeyDir overwritten with zeros, synced and removed (on a disk the
// filesystem may still keep old blocks: use tmpfs). It returns how many
// keys this call destroyed.
func (k *SelfieKeys) Shred(now time.Time) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	destroyed := 0
	for n, key := range k.keys {
		if !now.Before(k.destroyAt(n)) {
			clear(key)
			delete(k.keys, n)
			if k.dir == "" {
				destroyed++
			}
		}
	}
	if k.dir == "" {
		return destroyed, nil
	}
	entries, err := os.ReadDir(k.dir)
	if err != nil {
		return destroyed, fmt.Errorf("shred selfie keys: %w", err)
	}
	var errs []error
	for _, e := range entries {
		n, ok := keyFileEpoch(e.Name())
		if !ok || now.Before(k.destroyAt(n)) {
			continue
		}
		path := filepath.Join(k.dir, e.Name())
		if err := wipe(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		if !strings.HasPrefix(e.Name(), ".") {
			destroyed++
		}
	}
	atomicfile.SyncDir(k.dir)
	return destroyed, errors.Join(errs...)
}

// keyFileEpoch parses "epoch-<n>.key" and ".epoch-<n>.<rand>.tmp".
func keyFileEpoch(name string) (int64, bool) {
	var s string
	switch {
	case strings.HasPrefix(name, "epoch-") && strings.HasSuffix(name, ".key"):
		s = strings.TrimSuffix(strings.TrimPrefix(name, "epoch-"), ".key")
	case strings.HasPrefix(name, ".epoch-") && strings.HasSuffix(name, ".tmp"):
		s, _, _ = strings.Cut(strings.TrimPrefix(name, ".epoch-"), ".")
	default:
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// wipe overwrites a key file with zeros, syncs and removes it.
func wipe(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err == nil {
		_, err = f.WriteAt(make([]byte, st.Size()), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("wipe %s: %w", path, err)
	}
	return os.Remove(path)
}

// Held returns the epochs whose keys are present (in memory, and in KeyDir
// when set), for tests and diagnostics.
func (k *SelfieKeys) Held() []int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := map[int64]bool{}
	for n := range k.keys {
		seen[n] = true
	}
	if k.dir != "" {
		entries, _ := os.ReadDir(k.dir)
		for _, e := range entries {
			if n, ok := keyFileEpoch(e.Name()); ok && !strings.HasPrefix(e.Name(), ".") {
				seen[n] = true
			}
		}
	}
	out := make([]int64, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	return out
}
