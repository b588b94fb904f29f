package spool

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/faceverify/faceverify/internal/atomicfile"
)

// FS is the file system the spool writes to. OSFS is the real one; tests
// inject write errors (a full disk) through their own.
type FS interface {
	// CreateTemp, Rename, Remove and SyncDir: what a durable record write
	// needs (atomicfile.Write).
	atomicfile.FS
	MkdirAll(dir string, perm os.FileMode) error
	ReadDir(dir string) ([]os.DirEntry, error)
	ReadFile(name string) ([]byte, error)
}

// File is a file being written.
type File = atomicfile.File

// OSFS is the operating system's file system.
type OSFS struct{}

// MkdirAll is os.MkdirAll.
func (OSFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

// CreateTemp is os.CreateTemp.
func (OSFS) CreateTemp(dir, pattern string) (File, error) { return os.CreateTemp(dir, pattern) }

// Rename is os.Rename.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove is os.Remove.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// ReadDir is os.ReadDir.
func (OSFS) ReadDir(dir string) ([]os.DirEntry, error) { return os.ReadDir(dir) }

// ReadFile is os.ReadFile.
func (OSFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// SyncDir opens dir and fsyncs it.
func (OSFS) SyncDir(dir string) error {
	return atomicfile.SyncDir(dir)
}

// KeyLen is the length of the spool key file: an AES-256 key.
const KeyLen = 32

// LoadOrCreateKey reads the AES-256 key at path, creating it (32 random
// bytes, mode 0600, parent directories 0700, fsynced) when it does not
// exist. A key file of another length, or readable by group or others, is
// an error: records written under a lost key cannot be read again, so a
// damaged key is never replaced silently.
func LoadOrCreateKey(path string) (key []byte, created bool, err error) {
	key, err = readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("spool key: %w", err)
	}
	key = make([]byte, KeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("spool key: %w", err)
	}
	err = atomicfile.CreateExclusive(path, key, 0o600)
	if errors.Is(err, fs.ErrExist) { // created concurrently: use that one
		key, err = readKey(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("spool key %s: %w", path, err)
	}
	return key, true, nil
}

func readKey(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("spool key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("spool key %s: mode %04o, must not be accessible by group or others (chmod 600)", path, st.Mode().Perm())
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("spool key: %w", err)
	}
	if len(key) != KeyLen {
		return nil, fmt.Errorf("spool key %s: %d bytes, want %d", path, len(key), KeyLen)
	}
	return key, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("spool key: %w", err)
	}
	return cipher.NewGCM(block)
}
