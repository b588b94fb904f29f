package onnx

import (
	"fmt"
	"slices"

	"github.com/faceverify/faceverify/inference/goengine"
	"github.com/faceverify/faceverify/models"
)

// goBackend runs a model with the pure-Go engine (inference/goengine).
type goBackend struct {
	m    *goengine.Model
	ins  [][]float32
	outs [][]float32
}

func (b *goBackend) run() error { return b.m.Run(b.ins, b.outs) }
func (b *goBackend) destroy()   {}

// newGoSession compiles model bytes data with the pure-Go engine and checks
// its input and output shapes against the ones the pipeline reads.
func newGoSession(name string, data []byte, st models.Settings, inShape []int64, outShapes [][]int64) (*session, error) {
	if len(st.Outputs) != len(outShapes) {
		return nil, fmt.Errorf("%s: manifest lists %d outputs, engine reads %d", name, len(st.Outputs), len(outShapes))
	}
	m, err := goengine.LoadBytes(name, data)
	if err != nil {
		return nil, err
	}
	same := func(a []int, b []int64) bool {
		return slices.Equal(a, slices.Collect(func(yield func(int) bool) {
			for _, d := range b {
				if !yield(int(d)) {
					return
				}
			}
		}))
	}
	if m.NumInputs() != 1 || !same(m.InputShape(0), inShape) || m.NumOutputs() != len(outShapes) {
		return nil, fmt.Errorf("%s: model inputs/outputs do not match the pipeline (input %v, want %v)", name, m.InputShape(0), inShape)
	}
	b := &goBackend{m: m}
	b.ins = [][]float32{make([]float32, prod(inShape))}
	for i, sh := range outShapes {
		if !same(m.OutputShape(i), sh) {
			return nil, fmt.Errorf("%s: output %d has shape %v, want %v", name, i, m.OutputShape(i), sh)
		}
		b.outs = append(b.outs, make([]float32, prod(sh)))
	}
	return &session{name: name, in: b.ins[0], outs: b.outs, be: b}, nil
}

func prod(s []int64) int {
	n := 1
	for _, d := range s {
		n *= int(d)
	}
	return n
}
