package goengine_test

import (
	"math"
	"testing"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/goengine"
)

func TestTFLiteSmoke(t *testing.T) {
	names, photos := testPhotos(t)
	m, err := goengine.Load(modelPath(t, "tflite/face_detection_short_range.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ops %v in %v out %v %v", m.Ops(), m.InputShape(0), m.OutputShape(0), m.OutputShape(1))
	l := inference.TensorLayout{Width: 128, Height: 128, Order: inference.RGB, Mean: 127.5, Scale: 1 / 127.5}
	reg := make([]float32, 896*16)
	cls := make([]float32, 896)
	nhwc := make([]float32, 128*128*3)
	for _, n := range names {
		chw := wholeFrame(t, photos[n], l)
		for c := 0; c < 3; c++ {
			for i := 0; i < 128*128; i++ {
				nhwc[i*3+c] = chw[c*128*128+i]
			}
		}
		if err := m.Run([][]float32{nhwc}, [][]float32{reg, cls}); err != nil {
			t.Fatal(err)
		}
		best := float32(-100)
		for _, v := range cls {
			best = max(best, v)
		}
		t.Logf("%s best %.3f", n, 1/(1+math.Exp(-float64(best))))
	}
}

func TestMobileFaceNetSmoke(t *testing.T) {
	m, err := goengine.Load(modelPath(t, "tflite/MobileFaceNet.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ops %v in %v out %v arena %d KiB", m.Ops(), m.InputShape(0), m.OutputShape(0), m.ArenaBytes()/1024)
}
