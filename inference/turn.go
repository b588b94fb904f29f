package inference

import "image"

// Turn returns img turned clockwise by degrees, one of 0, 90, 180 and 270
// (Analysis.Rotation of a reference): the boxes and landmarks of that
// analysis are in pixels of the result. Any other value, and 0, return img
// itself; otherwise the result is a new image (Orient with orientation 6,
// 3 or 8).
func Turn(img *image.RGBA, degrees int) *image.RGBA {
	switch degrees {
	case 90:
		return Orient(img, 6)
	case 180:
		return Orient(img, 3)
	case 270:
		return Orient(img, 8)
	}
	return img
}
