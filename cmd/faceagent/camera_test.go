package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeDev makes a /dev tree whose video0 is a regular file (not a V4L2
// device) with a by-id link to it.
func fakeDev(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	byID := filepath.Join(root, "dev", "v4l", "by-id")
	if err := os.MkdirAll(byID, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "dev", "video0"), nil, 0o600)
	os.Symlink("../../video0", filepath.Join(byID, "usb-Acme_Cam_42-video-index0"))
	return root
}

func runCamera(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	rc := cameraMain(context.Background(), args, &out, &errb)
	return rc, out.String(), errb.String()
}

func TestCameraUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		rc   int
		msg  string
	}{
		{"no command", nil, 2, "usage: faceagent camera"},
		{"unknown command", []string{"snap"}, 2, `unknown command "snap"`},
		{"grab without out", []string{"grab", "-device", "video0"}, 2, "-out is required"},
		{"grab bad n", []string{"grab", "-out", "x", "-n", "0"}, 2, "-n must be"},
		{"grab bad format", []string{"grab", "-out", "x", "-format", "H264"}, 2, "-format must be MJPG or YUYV"},
		{"selftest few frames", []string{"selftest", "-frames", "1"}, 2, "-frames must be"},
		{"stray argument", []string{"list", "extra"}, 2, "unexpected arguments"},
		{"help", []string{"help"}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, _, stderr := runCamera(tc.args...)
			if rc != tc.rc || !strings.Contains(stderr, tc.msg) {
				t.Fatalf("rc %d stderr %q; want %d and %q", rc, stderr, tc.rc, tc.msg)
			}
		})
	}
}

func TestCameraListFakeTree(t *testing.T) {
	root := fakeDev(t)
	rc, out, stderr := runCamera("list", "-root", root)
	if rc != 0 {
		t.Fatalf("rc %d: %s", rc, stderr)
	}
	for _, want := range []string{"/dev/video0", "by-id: /dev/v4l/by-id/usb-Acme_Cam_42-video-index0", "error:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rc, out, _ = runCamera("list", "-root", root, "-json")
	var devs []map[string]any
	if rc != 0 || json.Unmarshal([]byte(out), &devs) != nil || len(devs) != 1 || devs[0]["path"] != "/dev/video0" {
		t.Fatalf("json list rc %d: %s", rc, out)
	}
	empty := t.TempDir()
	os.MkdirAll(filepath.Join(empty, "dev"), 0o755)
	if rc, out, _ := runCamera("list", "-root", empty); rc != 0 || !strings.Contains(out, "no video devices") {
		t.Fatalf("empty list rc %d: %q", rc, out)
	}
}

func TestCameraGrabAndSelfTestErrors(t *testing.T) {
	root := fakeDev(t)
	out := t.TempDir()
	rc, _, stderr := runCamera("grab", "-root", root, "-device", "Logitech", "-n", "2", "-out", out)
	if rc != 1 || !strings.Contains(stderr, "camera absent") {
		t.Fatalf("grab absent: rc %d %q", rc, stderr)
	}
	// video0 exists but is not a V4L2 device.
	rc, _, stderr = runCamera("grab", "-root", root, "-device", "Acme", "-n", "2", "-out", out)
	if rc != 1 || !strings.Contains(stderr, "video0") {
		t.Fatalf("grab non-device: rc %d %q", rc, stderr)
	}
	rc, stdout, stderr := runCamera("selftest", "-root", root, "-device", "/dev/video9", "-json")
	var rep map[string]any
	if rc != 1 || json.Unmarshal([]byte(stdout), &rep) != nil || rep["passed"] != false || !strings.Contains(rep["error"].(string), "/dev/video9") {
		t.Fatalf("selftest: rc %d stdout %s stderr %s", rc, stdout, stderr)
	}
	if !strings.Contains(stderr, "FAIL") {
		t.Fatalf("selftest stderr %q", stderr)
	}
}
