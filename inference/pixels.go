package inference

import (
	"fmt"
	"image"
)

// Undecoded is an image still in its encoded form whose pixels are decoded
// on first use, such as a camera frame handed over as JPEG
// (capture.LazyImage). Decode returns the same decoded image on every call.
// Analyzers call Decode once rather than read pixels through At.
type Undecoded interface {
	image.Image
	Decode() (image.Image, error)
}

// Pixels returns img decoded: Decode's result for an Undecoded image
// (errors wrap ErrDecode), img itself otherwise.
func Pixels(img image.Image) (image.Image, error) {
	u, ok := img.(Undecoded)
	if !ok {
		return img, nil
	}
	px, err := u.Decode()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	return px, nil
}
