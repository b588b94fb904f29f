package gateway_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
)

func newKeys(t *testing.T, dir string) *gateway.SelfieKeys {
	t.Helper()
	k, err := gateway.NewSelfieKeys(gateway.ErasureConfig{KeyDir: dir, Epoch: 5 * time.Minute, KeyLifetime: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// t0 is the start of an epoch (5-minute epochs).
var t0 = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

func TestSelfieKeysSealOpen(t *testing.T) {
	for _, mode := range []string{"memory", "dir"} {
		t.Run(mode, func(t *testing.T) {
			dir := ""
			if mode == "dir" {
				dir = filepath.Join(t.TempDir(), "keys")
			}
			k := newKeys(t, dir)
			plain := make([]byte, 4096)
			rand.Read(plain)
			sealed, err := k.Seal(t0.Add(time.Minute), "sub_1", plain)
			if err != nil {
				t.Fatal(err)
			}
			if !gateway.IsSealedSelfie(sealed) {
				t.Fatal("sealed selfie not recognised as sealed")
			}
			if w := sharedWindow(sealed, plain, 16); w >= 0 {
				t.Fatalf("sealed bytes hold plaintext window at %d", w)
			}
			tests := []struct {
				name string
				at   time.Time
				id   string
				data func() []byte
				want error
			}{
				{"same epoch", t0.Add(2 * time.Minute), "sub_1", func() []byte { return sealed }, nil},
				{"just before destruction", t0.Add(15*time.Minute - time.Nanosecond), "sub_1", func() []byte { return sealed }, nil},
				{"other submission id", t0.Add(2 * time.Minute), "sub_2", func() []byte { return sealed }, gateway.ErrSelfieCorrupt},
				{"flipped byte", t0.Add(2 * time.Minute), "sub_1", func() []byte {
					b := bytes.Clone(sealed)
					b[len(b)-40] ^= 1
					return b
				}, gateway.ErrSelfieCorrupt},
				{"truncated", t0, "sub_1", func() []byte { return sealed[:10] }, gateway.ErrSelfieCorrupt},
				{"at destruction", t0.Add(15 * time.Minute), "sub_1", func() []byte { return sealed }, gateway.ErrSelfieKeyDestroyed},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					got, err := k.Open(tc.at, tc.id, tc.data())
					if !errors.Is(err, tc.want) {
						t.Fatalf("Open = %v, want %v", err, tc.want)
					}
					if err == nil && !bytes.Equal(got, plain) {
						t.Fatal("Open returned other bytes")
					}
				})
			}
			// Destroyed stays destroyed, even asked with an earlier clock.
			if _, err := k.Open(t0.Add(2*time.Minute), "sub_1", sealed); err == nil {
				t.Error("a destroyed key came back")
			}
			if held := k.Held(); len(held) != 0 {
				t.Errorf("keys held after destruction: %v", held)
			}
		})
	}
}

func TestSelfieKeysLegacyPlaintext(t *testing.T) {
	k := newKeys(t, "")
	jpeg := []byte{0xff, 0xd8, 0xff, 0xe0, 1, 2, 3}
	if got, err := k.Open(t0, "sub_1", jpeg); err != nil || !bytes.Equal(got, jpeg) {
		t.Fatalf("plaintext selfie of an older release: %v %v", got, err)
	}
}

// TestSelfieKeysAcrossProcesses: two rings on one directory (two
// replicas) read each other's selfies; a ring in memory cannot read
// another's and says the key is not held.
func TestSelfieKeysAcrossProcesses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	a, b := newKeys(t, dir), newKeys(t, dir)
	sealed, err := a.Seal(t0, "sub_1", []byte("selfie"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Open(t0.Add(time.Minute), "sub_1", sealed); err != nil || string(got) != "selfie" {
		t.Fatalf("replica b: %q %v", got, err)
	}
	// Both create the next epoch's key: one file wins, both use it.
	s1, err1 := a.Seal(t0.Add(6*time.Minute), "sub_2", []byte("two"))
	s2, err2 := b.Seal(t0.Add(6*time.Minute), "sub_3", []byte("three"))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if got, err := a.Open(t0.Add(7*time.Minute), "sub_3", s2); err != nil || string(got) != "three" {
		t.Errorf("a opens b's: %q %v", got, err)
	}
	if got, err := b.Open(t0.Add(7*time.Minute), "sub_2", s1); err != nil || string(got) != "two" {
		t.Errorf("b opens a's: %q %v", got, err)
	}
	// b destroys epoch 0's key on schedule; a's cached copy goes too.
	if n, err := b.Shred(t0.Add(15 * time.Minute)); n != 1 || err != nil {
		t.Errorf("Shred = %d %v, want 1", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "epoch-"+strconv.FormatInt(t0.UnixNano()/int64(5*time.Minute), 10)+".key")); !os.IsNotExist(err) {
		t.Errorf("key file after destruction: %v", err)
	}
	if _, err := a.Open(t0.Add(15*time.Minute), "sub_1", sealed); !errors.Is(err, gateway.ErrSelfieKeyDestroyed) {
		t.Errorf("a after destruction: %v", err)
	}

	m1, m2 := newKeys(t, ""), newKeys(t, "")
	sealed, _ = m1.Seal(t0, "sub_1", []byte("selfie"))
	if _, err := m2.Open(t0, "sub_1", sealed); !errors.Is(err, gateway.ErrSelfieKeyNotHeld) {
		t.Errorf("memory ring opening another's selfie: %v, want not held", err)
	}
}

// TestSelfieKeyFileModes: the key directory is 0700 and key files 0600
// whatever the umask, and a wider existing directory is tightened.
func TestSelfieKeyFileModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	k := newKeys(t, dir)
	if _, err := k.Seal(t0, "sub_1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode %v (%v), want 0700", st.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("key dir holds %d entries, want 1 key file", len(entries))
	}
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 || info.Size() != 32 {
			t.Errorf("%s: mode %v size %d, want 0600 and 32 bytes", e.Name(), info.Mode().Perm(), info.Size())
		}
	}
}

// sharedWindow returns the offset in hay of the first n-byte window of
// needle, or -1.
func sharedWindow(hay, needle []byte, n int) int {
	if len(needle) < n {
		return -1
	}
	windows := make(map[string]bool, len(needle))
	for i := 0; i+n <= len(needle); i++ {
		windows[string(needle[i:i+n])] = true
	}
	for i := 0; i+n <= len(hay); i++ {
		if windows[string(hay[i:i+n])] {
			return i
		}
	}
	return -1
}
