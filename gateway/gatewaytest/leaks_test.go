package gatewaytest

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestLeaks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	// A selfie with 50 bytes of zero padding, as JPEG encoders write.
	secret := append(append(noise(300), make([]byte, 50)...), noise(300)...)
	for _, tc := range []struct {
		name string
		file []byte
		want int
	}{
		{"empty pages", make([]byte, 4096), 0},
		{"unrelated data", noise(4096), 0},
		{"40 bytes of the selfie", append(append(noise(1000), secret[100:140]...), noise(1000)...), 1},
		{"31 bytes of the selfie", append(append(noise(1000), secret[100:131]...), noise(1000)...), 0},
		{"the whole selfie", append(noise(7), secret...), 1},
		{"two copies", bytes.Repeat(append(noise(64), secret[400:500]...), 2), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Leaks(map[string][]byte{"f": tc.file}, secret)["f"]
			if got != tc.want {
				t.Errorf("Leaks = %d runs, want %d", got, tc.want)
			}
		})
	}
}
