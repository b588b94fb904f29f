package onnx

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"testing"
	"time"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/cputime"
)

// kioskFrames are the frames of the kiosk benchmarks: live_01.jpg as
// decoded (480×640 portrait, EXIF applied) and the same photo centred on a
// grey 640×480 landscape frame, the usual webcam format (its 320×240
// detector input is an exact 2× reduction).
func kioskFrames(b *testing.B) []struct {
	name string
	img  *image.RGBA
} {
	_, img, _, _ := benchInput(b)
	land := image.NewRGBA(image.Rect(0, 0, 640, 480))
	draw.Draw(land, land.Rect, image.NewUniform(color.RGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	r := img.Rect
	off := image.Pt((640-r.Dx())/2, 0)
	draw.Draw(land, image.Rectangle{Min: off, Max: off.Add(image.Pt(r.Dx(), 480))}, img, image.Pt(0, (r.Dy()-480)/2), draw.Src)
	return []struct {
		name string
		img  *image.RGBA
	}{{"portrait480x640", img}, {"landscape640x480", land}}
}

// floorRuns runs the raw model calls an analysed kiosk frame makes with
// one face (detector, landmarks, the liveness model once per configured
// crop; plus the detector again when confirm), on whatever input each
// tensor holds: ONNX Runtime's time with no Go pre- or post-processing.
func floorRuns(b *testing.B, e *Engine, confirm bool) {
	ss := []*session{e.Detector.sess, e.Landmarker.sess}
	for range max(len(e.Liveness.crops), 1) {
		ss = append(ss, e.Liveness.sess)
	}
	if confirm {
		ss = append(ss, e.Detector.sess)
	}
	for _, s := range ss {
		s.mu.Lock()
		err := s.run()
		s.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKioskFrame measures one analysed kiosk frame (Analyze with
// liveness, no embedding, as the agent calls it) and, in the same
// iteration, the floor of its raw model calls, and reports both and their
// ratio in wall time (x-floor) and in process CPU time (x-floor-cpu, all
// threads; steadier than wall time on a shared machine), with 1 and 3
// liveness crops (inference.Config.LivenessCrops; 3 is the default, and
// the floor runs the liveness model once per crop). calls-ms is the
// wall time of the frame's own model calls (inside Analyze) and x-calls
// the frame's wall time over it. The floor counts the detector once: in a capture round
// the confirmation pass runs on a face's first frame only (tracked), which
// is the steady state measured by the "tracked" cases; "untracked" confirms
// on every frame, as analyses outside a round do. floor4-ms adds the
// confirmation run to the floor for comparison.
func BenchmarkKioskFrame(b *testing.B) {
	e := testEngine(b)
	ctx := context.Background()
	saved := e.Liveness.crops
	defer func() { e.Liveness.crops = saved }()
	for _, fr := range kioskFrames(b) {
		for _, tc := range []struct {
			tracked bool
			crops   int
		}{{false, 1}, {true, 1}, {false, 3}, {true, 3}} {
			tracked := tc.tracked
			name := fmt.Sprintf("%s/untracked/crops%d", fr.name, tc.crops)
			if tracked {
				name = fmt.Sprintf("%s/tracked/crops%d", fr.name, tc.crops)
			}
			e.Liveness.crops = livenessCrops(tc.crops)
			b.Run(name, func(b *testing.B) {
				opts := inference.Options{Liveness: true}
				if tracked {
					opts.Track = new(inference.Tracker)
				}
				if _, err := e.Analyze(ctx, fr.img, opts); err != nil {
					b.Fatal(err)
				}
				var frame, floor, floor4, cpuFrame, cpuFloor, calls time.Duration
				b.ReportAllocs()
				for b.Loop() {
					busy0 := modelBusy(e)
					t0, c0 := time.Now(), cputime.Process()
					an, err := e.Analyze(ctx, fr.img, opts)
					if err != nil || len(an.Faces) != 1 {
						b.Fatalf("faces %d err %v", len(an.Faces), err)
					}
					t1, c1 := time.Now(), cputime.Process()
					calls += modelBusy(e) - busy0
					floorRuns(b, e, false)
					t2, c2 := time.Now(), cputime.Process()
					e.Detector.sess.mu.Lock()
					_ = e.Detector.sess.run()
					e.Detector.sess.mu.Unlock()
					t3 := time.Now()
					frame += t1.Sub(t0)
					floor += t2.Sub(t1)
					floor4 += t3.Sub(t1)
					cpuFrame += c1 - c0
					cpuFloor += c2 - c1
				}
				n := float64(b.N)
				b.ReportMetric(float64(frame.Microseconds())/1e3/n, "frame-ms")
				b.ReportMetric(float64(floor.Microseconds())/1e3/n, "floor-ms")
				b.ReportMetric(float64(floor4.Microseconds())/1e3/n, "floor4-ms")
				b.ReportMetric(float64(frame)/float64(floor), "x-floor")
				b.ReportMetric(float64(cpuFrame.Microseconds())/1e3/n, "frame-cpu-ms")
				b.ReportMetric(float64(cpuFloor.Microseconds())/1e3/n, "floor-cpu-ms")
				b.ReportMetric(float64(cpuFrame)/float64(cpuFloor), "x-floor-cpu")
				b.ReportMetric(float64(calls.Microseconds())/1e3/n, "calls-ms")
				b.ReportMetric(float64(frame)/float64(calls), "x-calls")
			})
		}
	}
}

// modelBusy is the wall time the engine's sessions have spent in Run.
func modelBusy(e *Engine) time.Duration {
	var d time.Duration
	for _, s := range []*session{e.Detector.sess, e.Liveness.sess, e.Landmarker.sess, e.Embedder.sess} {
		s.mu.Lock()
		d += s.busy
		s.mu.Unlock()
	}
	return d
}

// idleBackend is a backend whose runs do nothing: the output tensors keep
// the values of the last real run.
type idleBackend struct{}

func (idleBackend) run() error { return nil }
func (idleBackend) destroy()   {}

// BenchmarkKioskFrameGo measures the Go side of a tracked kiosk frame
// alone (BenchmarkKioskFrame's frame with every model run replaced by a
// no-op, the outputs left from a real run): decoding checks, resizes into
// the input tensors, post-processing and quality, in process CPU time
// (go-cpu-ms) and allocations.
func BenchmarkKioskFrameGo(b *testing.B) {
	e := testEngine(b)
	ctx := context.Background()
	saved := e.Liveness.crops
	defer func() { e.Liveness.crops = saved }()
	ss := []*session{e.Detector.sess, e.Landmarker.sess, e.Liveness.sess, e.Embedder.sess}
	for _, fr := range kioskFrames(b) {
		for _, crops := range []int{1, 3} {
			e.Liveness.crops = livenessCrops(crops)
			b.Run(fmt.Sprintf("%s/crops%d", fr.name, crops), func(b *testing.B) {
				opts := inference.Options{Liveness: true, Track: new(inference.Tracker)}
				if _, err := e.Analyze(ctx, fr.img, opts); err != nil {
					b.Fatal(err)
				}
				bes := make([]backend, len(ss))
				for i, s := range ss {
					s.mu.Lock()
					bes[i], s.be = s.be, idleBackend{}
					s.mu.Unlock()
				}
				defer func() {
					for i, s := range ss {
						s.mu.Lock()
						s.be = bes[i]
						s.mu.Unlock()
					}
				}()
				b.ReportAllocs()
				c0 := cputime.Process()
				for b.Loop() {
					an, err := e.Analyze(ctx, fr.img, opts)
					if err != nil || len(an.Faces) != 1 {
						b.Fatalf("faces %d err %v", len(an.Faces), err)
					}
				}
				b.ReportMetric(float64((cputime.Process()-c0).Microseconds())/1e3/float64(b.N), "go-cpu-ms")
			})
		}
	}
}
