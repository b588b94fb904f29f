package v4l2

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/capture"
)

const (
	c920   = "usb-046d_HD_Pro_Webcam_C920_ABCD1234-video-index0"
	c920m  = "usb-046d_HD_Pro_Webcam_C920_ABCD1234-video-index1"
	cheap  = "usb-Generic_USB2.0_Camera_200901010001-video-index0"
	cheap2 = "usb-Generic_USB2.0_Camera_200901010002-video-index0"
)

func TestResolve(t *testing.T) {
	root := devTree(t, []string{"video0", "video1", "video2", "video3"}, map[string]string{
		c920:  "../../video0",
		c920m: "../../video1",
		cheap: "../../video2",
	})
	// An absolute link target is taken inside the root too.
	if err := os.Symlink("/dev/video3", filepath.Join(root, ByIDDir, cheap2)); err != nil {
		t.Fatal(err)
	}
	node := func(n string) string { return filepath.Join(root, "dev", n) }
	tests := []struct {
		name     string
		spec     string
		want     Resolved
		wantErr  error
		errMatch string
	}{
		{"node path", "/dev/video2", Resolved{Path: node("video2")}, nil, ""},
		{"bare node", "video1", Resolved{Path: node("video1")}, nil, ""},
		{"by-id path", "/" + ByIDDir + "/" + c920, Resolved{Path: node("video0"), ByID: c920}, nil, ""},
		{"substring prefers index0", "C920", Resolved{Path: node("video0"), ByID: c920}, nil, ""},
		{"substring case-insensitive", "hd_pro_webcam", Resolved{Path: node("video0"), ByID: c920}, nil, ""},
		{"explicit index1", "C920_ABCD1234-video-index1", Resolved{Path: node("video1"), ByID: c920m}, nil, ""},
		{"serial picks one of two", "200901010002", Resolved{Path: node("video3"), ByID: cheap2}, nil, ""},
		{"missing node", "/dev/video9", Resolved{}, capture.ErrNoDevice, "/dev/video9"},
		{"missing name", "Logitech_Brio", Resolved{}, capture.ErrNoDevice, "Logitech_Brio"},
		{"ambiguous", "Generic_USB2.0", Resolved{}, nil, "ambiguous"},
		{"empty", " ", Resolved{}, nil, "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(root, tc.spec)
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.errMatch != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errMatch) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.errMatch)
				}
				if strings.Contains(err.Error(), root) {
					t.Fatalf("err %q shows the test root", err)
				}
			}
			if tc.wantErr == nil && tc.errMatch == "" && err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("Resolve(%q) = %+v, want %+v", tc.spec, got, tc.want)
			}
		})
	}
}

func TestResolveFollowsReplug(t *testing.T) {
	root := devTree(t, []string{"video0"}, map[string]string{c920: "../../video0"})
	r, err := Resolve(root, "C920")
	if err != nil || r.Path != filepath.Join(root, "dev", "video0") {
		t.Fatalf("before: %+v %v", r, err)
	}
	// Unplug: udev removes the node and the link.
	os.Remove(filepath.Join(root, "dev", "video0"))
	os.Remove(filepath.Join(root, ByIDDir, c920))
	if _, err := Resolve(root, "C920"); !errors.Is(err, capture.ErrNoDevice) {
		t.Fatalf("unplugged: err = %v, want ErrNoDevice", err)
	}
	// Re-plug under video4.
	os.WriteFile(filepath.Join(root, "dev", "video4"), nil, 0o600)
	os.Symlink("../../video4", filepath.Join(root, ByIDDir, c920))
	r, err = Resolve(root, "C920")
	if err != nil || r.Path != filepath.Join(root, "dev", "video4") {
		t.Fatalf("after re-plug: %+v %v", r, err)
	}
	// A dangling link (node not yet created) is absent, not an error.
	os.Remove(filepath.Join(root, "dev", "video4"))
	if _, err := Resolve(root, "C920"); !errors.Is(err, capture.ErrNoDevice) {
		t.Fatalf("dangling link: err = %v, want ErrNoDevice", err)
	}
}

func TestResolveNoByIDDir(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "dev"), 0o755)
	if _, err := Resolve(root, "C920"); !errors.Is(err, capture.ErrNoDevice) {
		t.Fatalf("err = %v, want ErrNoDevice", err)
	}
}

func TestByIDNamesAndNodes(t *testing.T) {
	root := devTree(t, []string{"video0", "video1", "video10", "video2"}, map[string]string{
		c920: "../../video0", c920m: "../../video1", cheap: "../../video7", // dangling: skipped
	})
	os.WriteFile(filepath.Join(root, "dev", "videoX"), nil, 0o600)
	got := ByIDNames(root)
	want := map[string][]string{
		filepath.Join(root, "dev", "video0"): {c920},
		filepath.Join(root, "dev", "video1"): {c920m},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ByIDNames = %v, want %v", got, want)
	}
	nodes, err := VideoNodes(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range nodes {
		names = append(names, filepath.Base(n))
	}
	if strings.Join(names, " ") != "video0 video1 video2 video10" {
		t.Fatalf("VideoNodes = %v, want numeric order", names)
	}
}
