//go:build race

package gateway

// raceDetector is true when the tests run under the race detector, which
// makes image processing in Go several times slower.
const raceDetector = true
