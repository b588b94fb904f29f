package gatewaytest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"io"
)

// PNGBomb returns a valid, uniform (all-zero, transparent black) RGBA PNG
// (colour type 6) of width×height pixels at bitDepth (8 or 16) bits per
// channel; Go's image/png decodes 16 bits to an *image.NRGBA64 of 8 bytes a
// pixel, 8 bits to an *image.NRGBA of 4. It compresses about 1000:1:
// 6320×6320 at 16 bits is ~310 KB encoded and 320 MB decoded, a
// decompression bomb under a 40-Mpixel limit. The rows are streamed
// through zlib, so making one costs little memory.
func PNGBomb(width, height, bitDepth int) []byte {
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(width))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(height))
	ihdr[8], ihdr[9] = byte(bitDepth), 6 // bit depth, colour type RGBA
	writeChunk(&out, "IHDR", ihdr)
	var idat bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	row := make([]byte, 1+width*4*bitDepth/8) // filter byte 0 (None) + zero samples
	for range height {
		zw.Write(row)
	}
	zw.Close()
	writeChunk(&out, "IDAT", idat.Bytes())
	writeChunk(&out, "IEND", nil)
	return out.Bytes()
}

func writeChunk(w io.Writer, typ string, data []byte) {
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(data)))
	copy(hdr[4:], typ)
	w.Write(hdr[:])
	w.Write(data)
	crc := crc32.NewIEEE()
	crc.Write(hdr[4:])
	crc.Write(data)
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc.Sum32())
	w.Write(sum[:])
}
