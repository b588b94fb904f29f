package inference

import (
	"encoding/binary"
	"image"
)

// opaque is image.RGBA.Opaque (every alpha 255) reading two pixels per
// 64-bit load and testing sixteen pixels per comparison: the check runs on
// every analysed frame.
func opaque(m *image.RGBA) bool {
	if m.Rect.Empty() {
		return true
	}
	const alphas = 0xff000000_ff000000
	w := 4 * m.Rect.Dx()
	for y := m.Rect.Min.Y; y < m.Rect.Max.Y; y++ {
		o := m.PixOffset(m.Rect.Min.X, y)
		row := m.Pix[o : o+w : o+w]
		i := 0
		for ; i+64 <= len(row); i += 64 {
			q := row[i : i+64 : i+64]
			v := binary.LittleEndian.Uint64(q[0:]) & binary.LittleEndian.Uint64(q[8:]) &
				binary.LittleEndian.Uint64(q[16:]) & binary.LittleEndian.Uint64(q[24:]) &
				binary.LittleEndian.Uint64(q[32:]) & binary.LittleEndian.Uint64(q[40:]) &
				binary.LittleEndian.Uint64(q[48:]) & binary.LittleEndian.Uint64(q[56:])
			if v&alphas != alphas {
				return false
			}
		}
		for ; i+16 <= len(row); i += 16 {
			v := binary.LittleEndian.Uint64(row[i:]) & binary.LittleEndian.Uint64(row[i+8:])
			if v&alphas != alphas {
				return false
			}
		}
		for ; i < len(row); i += 4 {
			if row[i+3] != 0xff {
				return false
			}
		}
	}
	return true
}
