//go:build turbojpeg && cgo

package turbojpeg

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/cputime"
	"github.com/faceverify/faceverify/internal/testenv"
)

// BenchmarkDecodeReference decodes the demo's partner reference (910×1137
// JPEG, 4:2:0) as the gateway does (inference.DecodePooled), with
// image/jpeg and with libjpeg-turbo, in wall time (ns/op) and process CPU
// time (cpu-us/op):
//
//	go test -tags turbojpeg -run '^$' -bench DecodeReference -benchmem ./inference/turbojpeg
func BenchmarkDecodeReference(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(b), "cmd/facedemo/photos/identity/person_a_01.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		d    inference.JPEGDecoder
	}{{"image-jpeg", nil}, {"libjpeg-turbo", New()}} {
		b.Run(c.name, func(b *testing.B) {
			inference.SetJPEGDecoder(c.d)
			defer inference.SetJPEGDecoder(nil)
			b.ReportAllocs()
			start := cputime.Process()
			for b.Loop() {
				_, release, err := inference.DecodePooled(bytes.NewReader(data), limits)
				if err != nil {
					b.Fatal(err)
				}
				release()
			}
			b.ReportMetric(float64((cputime.Process()-start).Nanoseconds())/1e3/float64(b.N), "cpu-us/op")
		})
	}
}
