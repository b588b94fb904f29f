package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// failFS is OS with one step failing.
type failFS struct {
	OS
	failWrite, failRename bool
}

type failFile struct{ *os.File }

func (failFile) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func (f failFS) CreateTemp(dir, pattern string) (File, error) {
	file, err := os.CreateTemp(dir, pattern)
	if err != nil || !f.failWrite {
		return file, err
	}
	return failFile{file}, nil
}

func (f failFS) Rename(o, n string) error {
	if f.failRename {
		return errors.New("rename refused")
	}
	return os.Rename(o, n)
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{"durable", Options{}, false},
		{"no sync", Options{NoSync: true}, false},
		{"write fails", Options{FS: failFS{failWrite: true}}, true},
		{"rename fails", Options{FS: failFS{failRename: true}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state")
			if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			before := 0
			tt.opts.BeforeRename = func() { before++ }
			err := Write(path, []byte("new"), tt.opts)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Write: err %v, want error %v", err, tt.wantErr)
			}
			want := "new"
			if tt.wantErr {
				want = "old"
			}
			if b, _ := os.ReadFile(path); string(b) != want {
				t.Errorf("content %q, want %q", b, want)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), TempPrefix) {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
			if !tt.wantErr || tt.opts.FS.(failFS).failRename {
				if before != 1 {
					t.Errorf("BeforeRename ran %d times, want 1", before)
				}
			}
			if !tt.wantErr {
				st, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != 0o600 {
					t.Errorf("mode %04o, want 0600", st.Mode().Perm())
				}
			}
		})
	}
}

func TestWriteFileCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new")
	if err := WriteFile(path, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "x" {
		t.Errorf("content %q", b)
	}
}

func TestCreateExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := CreateExclusive(path, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := CreateExclusive(path, []byte("second"), 0o600)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second create: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "first" {
		t.Errorf("content %q, want the first", b)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o", st.Mode().Perm())
	}
	if err := CreateExclusive(filepath.Join(path, "under-a-file"), nil, 0o600); err == nil || errors.Is(err, fs.ErrExist) {
		t.Errorf("create under a file: %v, want a non-ErrExist error", err)
	}
}
