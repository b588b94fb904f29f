package onnx

import (
	"fmt"
	"image"
	"math"
	"slices"

	"github.com/faceverify/faceverify/inference"
)

// Model files, relative to the models directory (models/manifest.json).
const (
	DetectFile   = "fr_detect.onnx"
	LivenessFile = "fr_liveness.onnx"
	LandmarkFile = "fr_landmark.onnx"
	FeatureFile  = "fr_feature.onnx"
)

// detectAnchors is the number of prior boxes of RFB-320 at 320×240:
// feature maps 40×30, 20×15, 10×8, 5×4 with 3, 2, 2, 3 sizes per cell.
const detectAnchors = 4420

// Detection is one detector output after NMS.
type Detection struct {
	Box   inference.Box // pixels of the analysed image, not clipped
	Score float64       // face probability, 0–1
}

// Detector is the Ultra-Light-Fast-Generic-Face-Detector-1MB RFB-320 face
// detector (Linzaer, MIT; fr_detect.onnx of faceplugin-face-recognition-js).
//
// Input "input" float32 [1,3,240,320] NCHW: the whole frame resized to
// 320×240 (aspect not kept), channel order and normalisation from the
// manifest (R,G,B, (p−127)/128). Outputs "scores" [1,4420,2] (softmax over
// background, face; column 1 is the face probability) and "boxes" [1,4420,4]
// (x1, y1, x2, y2 as fractions of the frame width/height, already decoded
// from the priors).
type Detector struct {
	sess   *session
	layout inference.TensorLayout
	// scratch reused under sess.mu
	rs     inference.Resizer // whole frames: taps kept while the frame size is
	crs    inference.Resizer // confirmation crops
	boxes  []inference.Box
	scores []float64
	keep   []int
	order  []int
}

// Detect returns the faces of img scoring at least threshold, after NMS at
// the IoU nmsIoU, in decreasing score order. Safe for concurrent use (runs
// are serialised).
func (d *Detector) Detect(img *image.RGBA, threshold, nmsIoU float64) ([]Detection, error) {
	d.sess.mu.Lock()
	defer d.sess.mu.Unlock()
	b := img.Rect
	full := inference.Box{X: 0, Y: 0, W: float64(b.Dx()), H: float64(b.Dy())}
	if err := d.rs.Resize(d.sess.in, img, full, d.layout); err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	if err := d.sess.run(); err != nil {
		return nil, err
	}
	d.collect(full, threshold)
	d.keep, d.order = inference.NMS(d.boxes, d.scores, nmsIoU, d.keep, d.order)
	out := make([]Detection, len(d.keep))
	for i, k := range d.keep {
		out[i] = Detection{Box: d.boxes[k], Score: d.scores[k]}
	}
	return out, nil
}

// confirmZoom is the side of the square crop Confirm re-examines, as a
// multiple of the candidate box's longer side.
const confirmZoom = 2.0

// confirmIoU is the minimum IoU between a candidate and a detection in its
// zoomed crop for the candidate to be confirmed.
const confirmIoU = 0.5

// Confirm re-runs the detector on a square crop confirmZoom× the size of box
// around its centre (the crop is resized to 320×240 like a whole frame) and
// returns the best score of a detection there that overlaps the candidate
// (IoU ≥ 0.5), or 0. A face is detected again at the larger scale, while
// look-alike texture found in a whole frame (an animal's face, a pattern in
// a painting) mostly is not; measured on ../shared/testdata, every labelled
// human face scored ≥ 0.99 here and the cat close-up 0.
func (d *Detector) Confirm(img *image.RGBA, box inference.Box, threshold, nmsIoU float64) (float64, error) {
	d.sess.mu.Lock()
	defer d.sess.mu.Unlock()
	crop := squareAround(box, confirmZoom, img.Rect.Dx(), img.Rect.Dy(), false)
	if err := d.crs.Resize(d.sess.in, img, crop, d.layout); err != nil {
		return 0, fmt.Errorf("detect: %w", err)
	}
	if err := d.sess.run(); err != nil {
		return 0, err
	}
	d.collect(crop, threshold)
	d.keep, d.order = inference.NMS(d.boxes, d.scores, nmsIoU, d.keep, d.order)
	best := 0.0
	for _, k := range d.keep {
		if inference.IoU(d.boxes[k], box) >= confirmIoU {
			best = max(best, d.scores[k])
		}
	}
	return best, nil
}

// collect gathers the candidates scoring ≥ threshold from the output
// tensors into d.boxes and d.scores, in pixels of the image region frame.
func (d *Detector) collect(frame inference.Box, threshold float64) {
	scores, boxes := d.sess.outs[0], d.sess.outs[1]
	d.boxes, d.scores = d.boxes[:0], d.scores[:0]
	for i := 0; i < detectAnchors; i++ {
		s := float64(scores[2*i+1])
		if s < threshold || math.IsNaN(s) {
			continue
		}
		x1, y1 := frame.X+float64(boxes[4*i])*frame.W, frame.Y+float64(boxes[4*i+1])*frame.H
		x2, y2 := frame.X+float64(boxes[4*i+2])*frame.W, frame.Y+float64(boxes[4*i+3])*frame.H
		d.boxes = append(d.boxes, inference.Box{X: x1, Y: y1, W: x2 - x1, H: y2 - y1})
		d.scores = append(d.scores, s)
	}
}

// squareAround is the square of side scale×max(box.W, box.H) centred on the
// box. With fit it is shrunk to fit the image and then shifted inside it
// (as Silent-Face-Anti-Spoofing's CropImage does).
func squareAround(box inference.Box, scale float64, w, h int, fit bool) inference.Box {
	side := math.Max(box.W, box.H) * scale
	c := box.Center()
	if fit {
		side = math.Min(side, float64(min(w, h)))
	}
	sq := inference.Box{X: c.X - side/2, Y: c.Y - side/2, W: side, H: side}
	if fit {
		sq.X = math.Max(0, math.Min(sq.X, float64(w)-side))
		sq.Y = math.Max(0, math.Min(sq.Y, float64(h)-side))
	}
	return sq
}

// Liveness is a MiniFASNet-style passive liveness (presentation-attack
// detection) model (architecture of minivision-ai Silent-Face-Anti-Spoofing,
// Apache-2.0; fr_liveness.onnx of faceplugin-face-recognition-js).
//
// Input "input" float32 [1,3,128,128]: a square crop of CropScale × the face
// box's longer side about its centre, shrunk/shifted to lie inside the
// frame, resized to 128×128, raw pixel values 0–255 in the manifest's
// channel order (B,G,R). Output "output" [1,3] logits; softmax index 0 is
// the probability the face is live (bona fide), 1 and 2 are attack classes.
type Liveness struct {
	sess      *session
	layout    inference.TensorLayout
	cropScale float64
	rs        inference.Resizer // under sess.mu
	// crops are the crops scored per face and fused (liveness_fusion.go);
	// nil means the single crop at cropScale.
	crops []livenessCrop
}

// Score returns the probability, 0–1, that the face in box of img is live:
// the softmax of the mean logits over the configured crops
// (inference.Config.LivenessCrops).
func (l *Liveness) Score(img *image.RGBA, box inference.Box) (float64, error) {
	l.sess.mu.Lock()
	defer l.sess.mu.Unlock()
	crops := l.crops
	if len(crops) == 0 {
		crops = singleCrop
	}
	var sum [3]float32
	for _, c := range crops {
		sq := squareAround(c.shift(box), l.cropScale*c.scale, img.Rect.Dx(), img.Rect.Dy(), true)
		if err := l.rs.Resize(l.sess.in, img, sq, l.layout); err != nil {
			return 0, fmt.Errorf("liveness: %w", err)
		}
		if err := l.sess.run(); err != nil {
			return 0, err
		}
		o := l.sess.outs[0]
		for k := range sum {
			sum[k] += o[k]
		}
	}
	for k := range sum {
		sum[k] /= float32(len(crops))
	}
	return softmax0(sum[:]), nil
}

// softmax0 is softmax(v)[0], computed stably.
func softmax0(v []float32) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, float64(x))
	}
	var sum float64
	for _, x := range v {
		sum += math.Exp(float64(x) - m)
	}
	return math.Exp(float64(v[0])-m) / sum
}

// Landmarker is the 68-point facial landmark regressor of
// faceplugin-face-recognition-js (fr_landmark.onnx; iBUG 300-W point order).
//
// Input "input" float32 [1,1,64,64]: the square of the face box's longer
// side about its centre (samples past the frame repeat the edge pixels),
// resized to 64×64, grey (BT.601 luma) / 256. Output "output" [1,136]:
// 68 (x, y) pairs as fractions of that square.
type Landmarker struct {
	sess      *session
	layout    inference.TensorLayout
	cropScale float64
	rs        inference.Resizer // under sess.mu
}

// Landmarks returns the 68 landmarks of the face in box, in pixels of img,
// appended to dst[:0].
func (m *Landmarker) Landmarks(img *image.RGBA, box inference.Box, dst []inference.Point) ([]inference.Point, error) {
	m.sess.mu.Lock()
	defer m.sess.mu.Unlock()
	sq := squareAround(box, m.cropScale, img.Rect.Dx(), img.Rect.Dy(), false)
	if err := m.rs.Resize(m.sess.in, img, sq, m.layout); err != nil {
		return nil, fmt.Errorf("landmarks: %w", err)
	}
	if err := m.sess.run(); err != nil {
		return nil, err
	}
	o := m.sess.outs[0]
	dst = slices.Grow(dst[:0], 68)
	for i := 0; i < 68; i++ {
		dst = append(dst, inference.Point{X: sq.X + float64(o[2*i])*sq.W, Y: sq.Y + float64(o[2*i+1])*sq.H})
	}
	return dst, nil
}

// Embedder is the 512-d face embedding network of
// faceplugin-face-recognition-js (fr_feature.onnx, ArcFace-style).
//
// Input "input" float32 [1,3,112,112]: the face aligned onto the insightface
// ArcFace template (inference.AlignFace), (p−127.5)/128 in the manifest's
// channel order (B,G,R). Output "output" [1,512]; Embed L2-normalises it so
// that the dot product of two embeddings is their cosine similarity.
type Embedder struct {
	sess   *session
	layout inference.TensorLayout
	rs     inference.Resizer // under sess.mu
}

// EmbeddingSize is the length of an embedding.
const EmbeddingSize = 512

// Embed computes the L2-normalised embedding of a 112×112 aligned face into
// dst (len EmbeddingSize; nil allocates) and returns it.
func (e *Embedder) Embed(aligned *image.RGBA, dst []float32) ([]float32, error) {
	if aligned.Rect.Dx() != inference.ArcFaceSize || aligned.Rect.Dy() != inference.ArcFaceSize {
		return nil, fmt.Errorf("embed: aligned face must be 112×112, got %v", aligned.Rect.Size())
	}
	if dst == nil {
		dst = make([]float32, EmbeddingSize)
	}
	if len(dst) != EmbeddingSize {
		return nil, fmt.Errorf("embed: destination has %d values, want %d", len(dst), EmbeddingSize)
	}
	e.sess.mu.Lock()
	defer e.sess.mu.Unlock()
	full := inference.Box{W: inference.ArcFaceSize, H: inference.ArcFaceSize}
	if err := e.rs.Resize(e.sess.in, aligned, full, e.layout); err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	if err := e.sess.run(); err != nil {
		return nil, err
	}
	copy(dst, e.sess.outs[0])
	inference.L2Normalize(dst)
	return dst, nil
}

// modelSpec is what the engine expects of each model file.
type modelSpec struct {
	file      string
	w, h, ch  int
	outShapes [][]int64
}

var specs = []modelSpec{
	{DetectFile, 320, 240, 3, [][]int64{{1, detectAnchors, 2}, {1, detectAnchors, 4}}},
	{LivenessFile, 128, 128, 3, [][]int64{{1, 3}}},
	{LandmarkFile, 64, 64, 1, [][]int64{{1, 136}}},
	{FeatureFile, 112, 112, 3, [][]int64{{1, EmbeddingSize}}},
}
