package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/inference/cli"
	"github.com/faceverify/faceverify/models"
)

func TestParseInterspersed(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		wantFiles []string
		wantJSON  bool
		wantDir   string
		wantErr   bool
	}{
		{"flags first", []string{"--json", "a.jpg"}, []string{"a.jpg"}, true, "", false},
		{"flag after the file", []string{"photo.jpg", "--json"}, []string{"photo.jpg"}, true, "", false},
		{"flag with a value between files", []string{"a.jpg", "--models", "m", "b.jpg", "-json"}, []string{"a.jpg", "b.jpg"}, true, "m", false},
		{"double dash ends the flags", []string{"a.jpg", "--", "--json", "-x.jpg"}, []string{"a.jpg", "--json", "-x.jpg"}, false, "", false},
		{"lone dash is a file", []string{"-", "--json"}, []string{"-"}, true, "", false},
		{"unknown flag after a file", []string{"a.jpg", "--bogus"}, nil, false, "", true},
		{"no arguments", nil, nil, false, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			asJSON := fs.Bool("json", false, "")
			dir := fs.String("models", "", "")
			files, err := cli.ParseInterspersed(fs, tc.args)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if !slices.Equal(files, tc.wantFiles) || *asJSON != tc.wantJSON || *dir != tc.wantDir {
				t.Errorf("files %q json %v models %q; want %q %v %q", files, *asJSON, *dir, tc.wantFiles, tc.wantJSON, tc.wantDir)
			}
		})
	}
}

func TestInspectMainArguments(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"unknown flag after a file is a usage error", []string{"photo.jpg", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{"no images", []string{"--json"}, 2, "no images given"},
		// The flags after the file are honoured: --models points at an
		// empty directory, so the engine reports the missing runtime there.
		{"flags after the file are used", []string{"photo.jpg", "--json", "--models", "/nonexistent-models"}, 1, "/nonexistent-models/"},
		{"help", []string{"photo.jpg", "-h"}, 0, "usage: faceagent inspect"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantCode == 1 && models.ORTLibrary() == "" {
				t.Skip("no pinned ONNX Runtime for this platform: the engine fails before looking at --models")
			}
			var out, errw bytes.Buffer
			code := inspectMain(context.Background(), tc.args, &out, &errw)
			if code != tc.wantCode || !strings.Contains(errw.String(), tc.wantStderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errw.String(), tc.wantCode, tc.wantStderr)
			}
		})
	}
}
