// Package atomicfile writes files so that a reader, or the file system
// after a crash or power loss, sees the old content or the new one, never a
// part: a temporary file in the same directory, fsync, rename, fsync of the
// directory. It is a leaf: standard library only.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// TempPrefix starts the name of every temporary file this package creates
// (".tmp-" then random characters), so an owner of a directory can remove
// the ones an interrupted write left behind.
const TempPrefix = ".tmp-"

// FS is the part of a file system a write needs. OS is the real one; tests
// of callers inject write errors (a full disk) through their own.
type FS interface {
	// CreateTemp creates a new file in dir, mode 0600 (as os.CreateTemp).
	CreateTemp(dir, pattern string) (File, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	// SyncDir makes the directory's entries (creations, renames,
	// removals) durable.
	SyncDir(dir string) error
}

// File is a file being written.
type File interface {
	io.Writer
	Name() string
	Sync() error
	Close() error
}

// OS is the operating system's file system.
type OS struct{}

// CreateTemp is os.CreateTemp.
func (OS) CreateTemp(dir, pattern string) (File, error) { return os.CreateTemp(dir, pattern) }

// Rename is os.Rename.
func (OS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove is os.Remove.
func (OS) Remove(name string) error { return os.Remove(name) }

// SyncDir is the package function SyncDir.
func (OS) SyncDir(dir string) error { return SyncDir(dir) }

// SyncDir opens dir and fsyncs it, so that the entries created, renamed or
// removed in it survive a power loss.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Options tune Write. The zero value is a durable write through OS.
type Options struct {
	// FS is the file system [OS].
	FS FS
	// NoSync skips both fsyncs: the replacement is still atomic for
	// readers but may be lost (the old content kept) on a power loss.
	NoSync bool
	// BeforeRename, when set, runs after the temporary file is written
	// and synced and before it is renamed into place (crash tests kill
	// the process there).
	BeforeRename func()
}

// WriteFile replaces path with data durably: once it returns nil the new
// content survives a power loss. The file has mode 0600. On error the
// temporary file is removed and path keeps its old content.
func WriteFile(path string, data []byte) error {
	return Write(path, data, Options{})
}

// Write replaces path with data as Options say: a temporary file named
// TempPrefix+"*" in path's directory, fsync (unless NoSync), rename onto
// path, fsync of the directory (unless NoSync). The file has mode 0600.
// Errors are the file system's; a failed directory fsync is returned
// although path already holds the new content (its name may not be
// durable).
func Write(path string, data []byte, o Options) error {
	fsys := o.FS
	if fsys == nil {
		fsys = OS{}
	}
	dir := filepath.Dir(path)
	f, err := fsys.CreateTemp(dir, TempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil && !o.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fsys.Remove(tmp)
		return err
	}
	if o.BeforeRename != nil {
		o.BeforeRename()
	}
	if err := fsys.Rename(tmp, path); err != nil {
		fsys.Remove(tmp)
		return err
	}
	if o.NoSync {
		return nil
	}
	return fsys.SyncDir(dir)
}

// CreateExclusive creates path with data and mode perm only if it does not
// exist yet (O_EXCL), fsyncs the file and its directory, and removes it
// again if any step fails, so a later call can try again. It returns an
// error wrapping fs.ErrExist when path already exists (another process
// created it first: read that one). Use it for keys that must never be
// replaced once written.
func CreateExclusive(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = SyncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(path)
		if errors.Is(err, fs.ErrExist) { // not from OpenFile: do not mislead the caller
			return fmt.Errorf("write %s: %v", path, err)
		}
		return err
	}
	return nil
}
