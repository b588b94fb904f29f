// Package ir is the model graph the pure-Go engine (inference/goengine)
// compiles: the model readers (onnxmodel, tflitemodel) translate their file
// formats into it. Operators and their attributes follow ONNX semantics
// (opset 9 names and attribute meanings) with 4-D activations in NCHW; a
// reader of an NHWC format converts weights and axes at load and inserts the
// Transpose nodes its inputs and outputs need.
package ir

import "fmt"

// Graph is a model as a list of nodes in execution (topological) order.
type Graph struct {
	// Name identifies the model in errors (usually its file name).
	Name string
	// Inputs are the graph input values with their shapes (no dynamic
	// dimensions: every pinned model has a fixed input shape).
	Inputs []Value
	// Outputs are the names of the graph outputs, in the model's order.
	Outputs []string
	// Consts holds constant tensors (weights, shapes) by value name.
	Consts map[string]*Tensor
	// Nodes in execution order.
	Nodes []*Node
}

// Value is a named tensor with a fixed shape.
type Value struct {
	Name  string
	Shape []int
}

// DType is the element type of a constant tensor: activations are always
// float32; integer constants carry shapes, axes and indices.
type DType uint8

const (
	Float32 DType = iota
	Int64
)

// Tensor is a constant: F holds float32 data for Float32, I holds int64 data
// for Int64, row-major in Shape order. A rank-0 tensor has Shape nil and one
// element.
type Tensor struct {
	DType DType
	Shape []int
	F     []float32
	I     []int64
}

// Len returns the element count of Shape.
func (t *Tensor) Len() int { return NumElements(t.Shape) }

// NumElements returns the product of shape (1 for a scalar).
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Node is one operator application. An empty input name is an absent
// optional input.
type Node struct {
	Op      string
	Name    string
	Inputs  []string
	Outputs []string
	Attrs   map[string]Attr
}

// Attr is an operator attribute; which field is set depends on the attribute.
type Attr struct {
	I  int64
	F  float32
	S  string
	Is []int64
	Fs []float32
}

// Int returns attribute name as an int, or def when absent.
func (n *Node) Int(name string, def int64) int64 {
	if a, ok := n.Attrs[name]; ok {
		return a.I
	}
	return def
}

// Float returns attribute name as a float, or def when absent.
func (n *Node) Float(name string, def float32) float32 {
	if a, ok := n.Attrs[name]; ok {
		return a.F
	}
	return def
}

// Ints returns attribute name as a list, or nil when absent.
func (n *Node) Ints(name string) []int64 {
	if a, ok := n.Attrs[name]; ok {
		return a.Is
	}
	return nil
}

// String returns the attribute name as a string, or def when absent.
func (n *Node) String(name, def string) string {
	if a, ok := n.Attrs[name]; ok {
		return a.S
	}
	return def
}

// OpError reports an operator the engine does not implement, naming the
// operator and the model; returned at load, never at run time.
type OpError struct {
	Model, Op, Detail string
}

func (e *OpError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("model %s: operator %s: %s", e.Model, e.Op, e.Detail)
	}
	return fmt.Sprintf("model %s: unsupported operator %s", e.Model, e.Op)
}

// OpCounts returns how many nodes use each operator, for the load-time op
// list.
func (g *Graph) OpCounts() map[string]int {
	m := map[string]int{}
	for _, n := range g.Nodes {
		m[n.Op]++
	}
	return m
}
