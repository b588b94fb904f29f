package gatewaytest

import (
	"bytes"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
)

// PNGVariant is PNG(c) with its bottom-right pixel set from a hash of
// seed: the fake Analyzer answers it as it answers c (it reads the
// top-left pixel), but its bytes differ for every seed, as two camera
// captures would. Use it where one test submits the "same" selfie in
// several flows, which the gateway refuses as SUBMISSION_REPLAY when the
// bytes repeat.
func PNGVariant(c color.RGBA, seed string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	h := fnv.New32a()
	h.Write([]byte(seed))
	v := h.Sum32()
	img.SetRGBA(7, 7, color.RGBA{uint8(v), uint8(v >> 8), uint8(v >> 16), 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err) // encoding an in-memory RGBA cannot fail
	}
	return buf.Bytes()
}
