package session

import (
	"math"

	"github.com/faceverify/faceverify/inference"
)

// Guidance codes tell the person at the kiosk what to change, from the
// checks the session already makes on each analysed frame. They carry no
// biometric data (no scores, boxes or images) and are shown by the kiosk
// screens, the session view and MQTT progress events.
const (
	GuideNoFace       = "NO_FACE"        // no face found
	GuideOnePerson    = "ONE_PERSON"     // a second face competes (MULTIPLE_FACES)
	GuideMoveCloser   = "MOVE_CLOSER"    // face smaller than the oval (or than inference.min_face_size)
	GuideMoveBack     = "MOVE_BACK"      // face larger than the oval, or cut by the frame edge
	GuideCenter       = "CENTER_FACE"    // face centre off the oval centre
	GuideMoreLight    = "MORE_LIGHT"     // face darker than inference.min_brightness
	GuideLessLight    = "LESS_LIGHT"     // face brighter than inference.max_brightness
	GuideLookAtCamera = "LOOK_AT_CAMERA" // head turned: nose far off the eyes' midline
	GuideHoldStill    = "HOLD_STILL"     // blurred (below inference.min_sharpness) or moving
	GuideGood         = "GOOD"           // nothing to change; Progress counts passing frames
)

// Oval guide geometry, as fractions of the analysed frame. The kiosk
// screens draw the same oval over the preview from these numbers (sent in
// the UI state), so "closer", "back" and "centre" mean "fill the oval you
// see".
const (
	// OvalHeightFrac is the oval's height as a fraction of the frame height.
	OvalHeightFrac = 0.70
	// OvalAspect is the oval's width / height.
	OvalAspect = 0.75
	// FaceMinOval: a face box shorter than this fraction of the oval height
	// is too far (MOVE_CLOSER). Detector boxes span brow to chin, about 60 %
	// of the head the oval frames.
	FaceMinOval = 0.40
	// FaceMaxOval: a face box taller than this fraction of the oval height
	// is too near (MOVE_BACK).
	FaceMaxOval = 1.00
	// CenterTolerance: the face centre may be off the oval centre by this
	// fraction of the oval's width (horizontally) or height (vertically).
	CenterTolerance = 0.20
	// YawTolerance: |nose x − eye-midpoint x| above this fraction of the
	// distance between the eye centres means the head is turned. Frontal
	// faces measure below 0.15; a 30° turn about 0.35.
	YawTolerance = 0.30
	// MotionTolerance: a face centre that moved more than this fraction of
	// the face size since the previous analysed frame is moving.
	MotionTolerance = 0.15
)

// GuideConfig holds the thresholds guidance derives from: the inference
// configuration's quality gates (the same the analyzer applies, so a
// LOW_QUALITY frame is explained by the gate it failed). Frame size comes
// from each analysis (the camera's capture.width × capture.height).
type GuideConfig struct {
	MinFaceSize   float64 // px, inference.min_face_size
	MinSharpness  float64 // Laplacian variance, inference.min_sharpness
	MinBrightness float64 // grey level 0–255, inference.min_brightness
	MaxBrightness float64 // grey level 0–255, inference.max_brightness
}

// GuideConfigOf takes the gates from an inference configuration.
func GuideConfigOf(c inference.Config) GuideConfig {
	return GuideConfig{MinFaceSize: c.MinFaceSize, MinSharpness: c.MinSharpness,
		MinBrightness: c.MinBrightness, MaxBrightness: c.MaxBrightness}
}

// GuideFor returns the guidance code for one analysed frame: the first of
// NO_FACE, ONE_PERSON, MOVE_BACK, MOVE_CLOSER, CENTER_FACE, MORE_LIGHT,
// LESS_LIGHT, LOOK_AT_CAMERA, HOLD_STILL that applies, else GOOD. prev is
// the subject's box in the previous analysed frame (nil if none) for the
// motion check. It never reports liveness: a frame that fails only local
// liveness is GOOD (the attacker learns nothing).
func GuideFor(a inference.Analysis, prev *inference.Box, g GuideConfig) string {
	switch a.Decision {
	case inference.DecisionMultipleFaces:
		return GuideOnePerson
	case inference.DecisionNoFace, inference.DecisionDecodeError, inference.DecisionTooLarge:
		return GuideNoFace
	}
	if a.Subject < 0 || a.Subject >= len(a.Faces) {
		return GuideNoFace
	}
	f := a.Faces[a.Subject]
	q := f.Quality
	fw, fh := float64(a.Width), float64(a.Height)
	if fw <= 0 || fh <= 0 { // unknown frame size: geometry cannot be judged
		fw, fh = 0, 0
	}
	ovalH := OvalHeightFrac * fh
	ovalW := OvalAspect * ovalH
	switch {
	case q.Truncated || (ovalH > 0 && f.Box.H > FaceMaxOval*ovalH):
		return GuideMoveBack
	case q.FaceSize < g.MinFaceSize || (ovalH > 0 && f.Box.H < FaceMinOval*ovalH):
		return GuideMoveCloser
	}
	if ovalH > 0 {
		cx, cy := f.Box.X+f.Box.W/2, f.Box.Y+f.Box.H/2
		if math.Abs(cx-fw/2) > CenterTolerance*ovalW || math.Abs(cy-fh/2) > CenterTolerance*ovalH {
			return GuideCenter
		}
	}
	switch {
	case q.Brightness < g.MinBrightness:
		return GuideMoreLight
	case q.Brightness > g.MaxBrightness:
		return GuideLessLight
	}
	if yawed(f.Landmarks) {
		return GuideLookAtCamera
	}
	if q.Sharpness < g.MinSharpness {
		return GuideHoldStill
	}
	if prev != nil && q.FaceSize > 0 {
		dx := (f.Box.X + f.Box.W/2) - (prev.X + prev.W/2)
		dy := (f.Box.Y + f.Box.H/2) - (prev.Y + prev.H/2)
		if math.Hypot(dx, dy) > MotionTolerance*q.FaceSize {
			return GuideHoldStill
		}
	}
	if a.Decision == inference.DecisionLowQuality { // a gate the checks above do not name
		return GuideHoldStill
	}
	return GuideGood
}

// yawed reports a turned head from 68 iBUG landmarks (eyes 36–47, nose
// tip 30); false without them.
func yawed(p []inference.Point) bool {
	if len(p) != 68 {
		return false
	}
	var l, r inference.Point
	for i := 36; i < 42; i++ {
		l.X += p[i].X / 6
		l.Y += p[i].Y / 6
		r.X += p[i+6].X / 6
		r.Y += p[i+6].Y / 6
	}
	iod := math.Hypot(r.X-l.X, r.Y-l.Y)
	if iod <= 0 {
		return false
	}
	return math.Abs(p[30].X-(l.X+r.X)/2) > YawTolerance*iod
}

// Progress is the share of passing frames collected toward ending the
// round, 0–100.
func Progress(streak, passFrames int) int {
	if passFrames <= 0 {
		return 0
	}
	return min(100, max(0, streak*100/passFrames))
}
