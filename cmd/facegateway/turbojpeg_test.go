//go:build turbojpeg && cgo

package main

import (
	"io"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/inference"
)

// A build tagged turbojpeg decodes JPEG with libjpeg-turbo in every
// subcommand.
func TestRealMainInstallsLibjpegTurbo(t *testing.T) {
	t.Cleanup(func() { inference.SetJPEGDecoder(nil) })
	realMain([]string{"help"}, io.Discard, io.Discard)
	if got := inference.JPEGDecoderName(); !strings.HasPrefix(got, "libjpeg-turbo ") {
		t.Fatalf("JPEG decoder %q, want libjpeg-turbo", got)
	}
}
