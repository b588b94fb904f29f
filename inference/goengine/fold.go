package goengine

import (
	"slices"

	"github.com/faceverify/faceverify/inference/goengine/ir"
)

// fold evaluates a node whose inputs are all constants at load: integer
// shape arithmetic directly, float nodes by running their kernel once.
func (c *compiler) fold(n *ir.Node, ins []*val) error {
	isInt := false
	for _, v := range ins {
		if v != nil && v.c.DType == ir.Int64 {
			isInt = true
		}
	}
	if isInt {
		t, err := c.foldInt(n, ins)
		if err != nil {
			return err
		}
		c.vals[n.Outputs[0]] = &val{name: n.Outputs[0], shape: t.Shape, c: t}
		return nil
	}
	shapes, err := c.infer(n, ins)
	if err != nil {
		return err
	}
	if aliasOps[n.Op] {
		t := &ir.Tensor{Shape: shapes[0], F: ins[0].c.F}
		c.vals[n.Outputs[0]] = &val{name: n.Outputs[0], shape: t.Shape, c: t}
		return nil
	}
	p := &plan{n: n, ins: ins}
	for _, s := range shapes {
		c.folded += ir.NumElements(s)
		if !sizeOK(s) || c.folded > MaxArena || len(s) > maxRank || (len(s) > 0 && slices.Min(s) < 1) {
			return c.errf(n, "constant too large")
		}
		v := &val{shape: s}
		v.buf = make([]float32, max(ir.NumElements(s), 1))
		p.outs = append(p.outs, v)
	}
	k, err := c.build(p)
	if err != nil {
		return err
	}
	if ck, ok := k.(*convK); ok && !ck.pointwise && !ck.depthwise {
		ck.col = make([]float32, ck.kdim()*ck.oh*ck.ow)
	}
	k.run()
	for i, o := range n.Outputs {
		if i < len(p.outs) {
			t := &ir.Tensor{Shape: p.outs[i].shape, F: p.outs[i].buf[:ir.NumElements(p.outs[i].shape)]}
			c.vals[o] = &val{name: o, shape: t.Shape, c: t}
		}
	}
	return nil
}

func (c *compiler) foldInt(n *ir.Node, ins []*val) (*ir.Tensor, error) {
	x := ins[0].c
	data := x.I
	if x.DType != ir.Int64 {
		data = make([]int64, len(x.F))
		for i, f := range x.F {
			data[i] = int64(f)
		}
	}
	out := &ir.Tensor{DType: ir.Int64}
	switch n.Op {
	case "Identity", "Cast", "Unsqueeze", "Squeeze", "Reshape", "Flatten":
		shapes, err := c.infer(n, ins)
		if err != nil {
			return nil, err
		}
		out.Shape, out.I = shapes[0], data
		if n.Op == "Cast" && n.Int("to", 7) == 1 {
			out.DType, out.I = ir.Float32, nil
			out.F = make([]float32, len(data))
			for i, v := range data {
				out.F[i] = float32(v)
			}
		}
		return out, nil
	case "Gather":
		if len(ins) < 2 || ins[1] == nil || ins[1].c.DType != ir.Int64 || len(x.Shape) != 1 || n.Int("axis", 0) != 0 {
			return nil, c.errf(n, "only 1-D integer gathers are folded")
		}
		idx := ins[1].c
		out.Shape = slices.Clone(idx.Shape)
		for _, i := range idx.I {
			if i < 0 {
				i += int64(len(data))
			}
			if i < 0 || i >= int64(len(data)) {
				return nil, c.errf(n, "index %d out of range", i)
			}
			out.I = append(out.I, data[i])
		}
		return out, nil
	case "Concat":
		for _, v := range ins {
			if v == nil || v.c.DType != ir.Int64 || len(v.c.Shape) != 1 {
				return nil, c.errf(n, "only 1-D integer concatenation is folded")
			}
			out.I = append(out.I, v.c.I...)
		}
		out.Shape = []int{len(out.I)}
		return out, nil
	case "Add", "Sub", "Mul", "Div":
		if len(ins) != 2 || ins[1] == nil || ins[1].c.DType != ir.Int64 {
			return nil, c.errf(n, "mixed integer arithmetic")
		}
		b := ins[1].c
		if b.Len() != 1 && b.Len() != len(data) {
			return nil, c.errf(n, "integer broadcasting is folded for scalars only")
		}
		out.Shape = slices.Clone(x.Shape)
		if len(data) == 1 {
			out.Shape = slices.Clone(b.Shape)
		}
		cnt := max(len(data), b.Len())
		for i := 0; i < cnt; i++ {
			p, q := data[min(i, len(data)-1)], b.I[min(i, b.Len()-1)]
			switch n.Op {
			case "Add":
				p += q
			case "Sub":
				p -= q
			case "Mul":
				p *= q
			case "Div":
				if q == 0 {
					return nil, c.errf(n, "division by zero")
				}
				p /= q
			}
			out.I = append(out.I, p)
		}
		return out, nil
	}
	return nil, c.errf(n, "integer inputs are not supported")
}
