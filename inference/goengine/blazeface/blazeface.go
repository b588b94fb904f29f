// Package blazeface runs MediaPipe's BlazeFace short-range face detector
// (models/tflite/face_detection_short_range.tflite) on the pure-Go engine:
// letterboxed 128×128 RGB input in [−1, 1], 896 SSD anchors, sigmoid
// scores, weighted non-maximum suppression and 6 keypoints per face.
//
// Constants are those of MediaPipe's face_detection_short_range graph
// (SsdAnchorsCalculator and TensorsToDetectionsCalculator options): strides
// 8, 16, 16, 16 with 2 anchors per cell per layer, anchor offset 0.5, fixed
// anchor size; coordinates scaled by 128; box as x-centre, y-centre, width,
// height followed by 6 (x, y) keypoints; score clipping at ±100; weighted
// NMS at IoU 0.3.
package blazeface

import (
	"fmt"
	"image"
	"math"
	"sort"
	"sync"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/goengine"
)

const (
	side       = 128 // input side, px
	numAnchors = 896
	numCoords  = 16
	// NMSIoU is MediaPipe's min_suppression_threshold for this model.
	NMSIoU = 0.3
	// MinScore is MediaPipe's min_score_thresh for this model.
	MinScore = 0.5
)

// Keypoint indices into Face.Keypoints (MediaPipe order, subject's view).
const (
	RightEye = iota
	LeftEye
	NoseTip
	Mouth
	RightEarTragion
	LeftEarTragion
)

// Face is one detection in image pixels.
type Face struct {
	Box       inference.Box
	Score     float64 // sigmoid score, 0–1
	Keypoints [6]inference.Point
}

type anchor struct{ cx, cy float32 }

// anchors returns the 896 anchor centres (fractions of the input side).
func anchors() []anchor {
	var out []anchor
	for _, l := range []struct{ stride, perCell int }{{8, 2}, {16, 6}} {
		g := side / l.stride
		for y := 0; y < g; y++ {
			for x := 0; x < g; x++ {
				for k := 0; k < l.perCell; k++ {
					out = append(out, anchor{(float32(x) + 0.5) / float32(g), (float32(y) + 0.5) / float32(g)})
				}
			}
		}
	}
	return out
}

// Detector holds the compiled model and its buffers; Detect is safe for
// concurrent use (runs are serialised).
type Detector struct {
	mu      sync.Mutex
	m       *goengine.Model
	chw     []float32
	nhwc    []float32
	reg     []float32
	cls     []float32
	anchors []anchor
}

// New loads the model file (face_detection_short_range.tflite).
func New(path string) (*Detector, error) {
	m, err := goengine.Load(path)
	if err != nil {
		return nil, err
	}
	if m.NumInputs() != 1 || m.NumOutputs() != 2 || fmt.Sprint(m.InputShape(0)) != "[1 128 128 3]" ||
		fmt.Sprint(m.OutputShape(0)) != "[1 896 16]" || fmt.Sprint(m.OutputShape(1)) != "[1 896 1]" {
		return nil, fmt.Errorf("%s: not BlazeFace short range (input %v)", m.Name(), m.InputShape(0))
	}
	return &Detector{m: m, chw: make([]float32, 3*side*side), nhwc: make([]float32, 3*side*side),
		reg: make([]float32, numAnchors*numCoords), cls: make([]float32, numAnchors), anchors: anchors()}, nil
}

type cand struct {
	score float64
	x     [numCoords]float64 // box x0,y0,x1,y1 then keypoints, normalised to the letterbox
}

// Detect returns the faces scoring at least minScore after weighted NMS at
// iou, highest score first, in img's pixel coordinates. The image is
// letterboxed into the square input (the longer side fills it; border
// pixels are repeated in the margin).
func (d *Detector) Detect(img *image.RGBA, minScore, iou float64) ([]Face, error) {
	b := img.Bounds()
	w, h := float64(b.Dx()), float64(b.Dy())
	s := math.Max(w, h)
	crop := inference.Box{X: (w - s) / 2, Y: (h - s) / 2, W: s, H: s}
	l := inference.TensorLayout{Width: side, Height: side, Order: inference.RGB, Mean: 127.5, Scale: 1 / 127.5}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := inference.ResizeInto(d.chw, img, crop, l); err != nil {
		return nil, err
	}
	for c := 0; c < 3; c++ {
		for i := 0; i < side*side; i++ {
			d.nhwc[i*3+c] = d.chw[c*side*side+i]
		}
	}
	if err := d.m.Run([][]float32{d.nhwc}, [][]float32{d.reg, d.cls}); err != nil {
		return nil, err
	}
	var cands []cand
	for i, a := range d.anchors {
		logit := math.Max(-100, math.Min(100, float64(d.cls[i])))
		score := 1 / (1 + math.Exp(-logit))
		if score < minScore {
			continue
		}
		r := d.reg[i*numCoords : (i+1)*numCoords]
		cx := float64(r[0])/side + float64(a.cx)
		cy := float64(r[1])/side + float64(a.cy)
		bw, bh := float64(r[2])/side, float64(r[3])/side
		c := cand{score: score}
		c.x[0], c.x[1], c.x[2], c.x[3] = cx-bw/2, cy-bh/2, cx+bw/2, cy+bh/2
		for k := 0; k < 6; k++ {
			c.x[4+2*k] = float64(r[4+2*k])/side + float64(a.cx)
			c.x[5+2*k] = float64(r[5+2*k])/side + float64(a.cy)
		}
		cands = append(cands, c)
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	var faces []Face
	for len(cands) > 0 {
		top := cands[0]
		var sum [numCoords]float64
		var total float64
		rest := cands[:0]
		for _, c := range cands {
			if boxIoU(top.x, c.x) > iou {
				for k := range sum {
					sum[k] += c.x[k] * c.score
				}
				total += c.score
			} else {
				rest = append(rest, c)
			}
		}
		cands = rest
		f := Face{Score: top.score}
		px := func(k int) inference.Point {
			return inference.Point{X: crop.X + sum[k]/total*s, Y: crop.Y + sum[k+1]/total*s}
		}
		p0, p1 := px(0), px(2)
		f.Box = inference.Box{X: p0.X, Y: p0.Y, W: p1.X - p0.X, H: p1.Y - p0.Y}
		for k := 0; k < 6; k++ {
			f.Keypoints[k] = px(4 + 2*k)
		}
		faces = append(faces, f)
	}
	return faces, nil
}

func boxIoU(a, b [numCoords]float64) float64 {
	ix := math.Max(0, math.Min(a[2], b[2])-math.Max(a[0], b[0]))
	iy := math.Max(0, math.Min(a[3], b[3])-math.Max(a[1], b[1]))
	inter := ix * iy
	u := (a[2]-a[0])*(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - inter
	if u <= 0 {
		return 0
	}
	return inter / u
}
