// Package turbojpeg decodes JPEG files with libjpeg-turbo (the libjpeg
// API of libjpeg62-turbo, through cgo) straight into RGBA pixels: no
// YCbCr image, no conversion pass, SIMD Huffman decoding and IDCT. It is
// built only with the build tag turbojpeg and cgo (`make build` adds the
// tag when the libjpeg-turbo headers are installed); other builds, the
// cross builds and CGO_ENABLED=0 among them, leave it empty and decode
// with image/jpeg.
//
// A program installs it with inference.SetJPEGDecoder(turbojpeg.New());
// inference.DecodeWith and DecodePooled then keep their limits, errors and
// EXIF orientation and only the pixel decode changes.
package turbojpeg
