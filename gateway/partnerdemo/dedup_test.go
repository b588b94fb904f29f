package partnerdemo

import (
	"fmt"
	"runtime"
	"testing"
)

// TestDedupBounded: the set never holds more than its capacity, forgets the
// oldest id first, and recognises every id it holds.
func TestDedupBounded(t *testing.T) {
	d := newDedup(3)
	for i := range 10 {
		if !d.add(fmt.Sprint(i)) {
			t.Fatalf("id %d new, reported seen", i)
		}
		if d.len() > 3 {
			t.Fatalf("%d ids held, capacity 3", d.len())
		}
	}
	for i := 7; i < 10; i++ {
		if d.add(fmt.Sprint(i)) {
			t.Errorf("id %d forgotten too early", i)
		}
	}
	if !d.add("6") {
		t.Error("id 6 (the oldest) still held")
	}
}

// BenchmarkDedupMemory reports the heap held by a full set of 10 000
// gateway delivery ids ("dlv_" + 24 hex), in bytes per set.
func BenchmarkDedupMemory(b *testing.B) {
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		d := newDedup(10_000)
		for i := range 20_000 {
			d.add(fmt.Sprintf("dlv_%024x", i))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc), "bytes/set")
		runtime.KeepAlive(d)
	}
}
