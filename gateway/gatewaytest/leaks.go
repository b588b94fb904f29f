package gatewaytest

// LeakWindow is the run length, in bytes, that Leaks counts: a run of 32
// bytes of a selfie found in a database file means the selfie was
// recoverable from it.
const LeakWindow = 32

// Leaks counts, per file, the runs of at least LeakWindow bytes shared with
// secret. Every such run covers a 16-byte block of the file at a multiple
// of 16, so only those blocks are looked up in an index of secret, then
// extended both ways; a run is counted once however long it is. A run
// with fewer than minDistinct different byte values (a JPEG's zero
// padding meeting a file's empty pages) identifies nothing and is not
// counted.
func Leaks(files map[string][]byte, secret []byte) map[string]int {
	const block = LeakWindow / 2
	at := make(map[[block]byte][]int, len(secret))
	for i := 0; i+block <= len(secret); i++ {
		k := [block]byte(secret[i : i+block])
		at[k] = append(at[k], i)
	}
	out := map[string]int{}
	for name, b := range files {
		lastEnd := -1 // a run already counted ends here in b
		for j := 0; j+block <= len(b); j += block {
			for _, p := range at[[block]byte(b[j:j+block])] {
				lo, hi := 0, block // extend the match b[j-lo:j+hi] = secret[p-lo:p+hi]
				for j-lo > 0 && p-lo > 0 && b[j-lo-1] == secret[p-lo-1] {
					lo++
				}
				for j+hi < len(b) && p+hi < len(secret) && b[j+hi] == secret[p+hi] {
					hi++
				}
				if lo+hi >= LeakWindow && j+hi > lastEnd && distinct(secret[p-lo:p+hi]) >= minDistinct {
					out[name]++
					lastEnd = j + hi
				}
			}
		}
	}
	return out
}

// minDistinct is the fewest different byte values a shared run needs to
// count as a leak: compressed image data has dozens in any 32 bytes.
const minDistinct = 8

func distinct(b []byte) int {
	var seen [256]bool
	n := 0
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n
}
