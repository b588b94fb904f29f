package goengine

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/faceverify/faceverify/inference/goengine/ir"
)

// val is one tensor value while compiling: a constant (c != nil) or an
// activation with a planned place in the arena. Reshape-like nodes alias
// their input's storage (base).
type val struct {
	name      string
	shape     []int
	c         *ir.Tensor
	base      *val // storage owner for aliases
	last      int  // index of the last step reading it
	out       bool // graph output: never freed
	off, size int
	planned   bool
	buf       []float32
}

func (v *val) root() *val {
	for v.base != nil {
		v = v.base
	}
	return v
}

func (v *val) isConst() bool { return v.c != nil }

// data returns the float32 contents: the constant or the planned buffer.
func (v *val) data() []float32 {
	if v.c != nil {
		return v.c.F
	}
	r := v.root()
	return r.buf[:ir.NumElements(v.shape)]
}

// plan is one node that runs at inference time.
type plan struct {
	n    *ir.Node
	ins  []*val
	outs []*val
	act  act
}

// compiler turns an ir.Graph into a Model.
type compiler struct {
	g     *ir.Graph
	vals  map[string]*val
	plans []*plan
	prod  map[*val]*plan
	uses  map[string]int
	// folded counts the float32 values allocated by constant folding
	folded int
}

func (c *compiler) errf(n *ir.Node, format string, args ...any) error {
	return &ir.OpError{Model: c.g.Name, Op: n.Op, Detail: fmt.Sprintf("node %q: ", n.Name) + fmt.Sprintf(format, args...)}
}

// Compile checks every operator of g, infers shapes, folds constant
// subgraphs (shape arithmetic, dequantised weights), fuses activations into
// the kernels that produce their inputs, plans the activation memory once
// and binds every kernel to its buffers. An operator the engine does not
// implement is an *ir.OpError naming it and the model.
func Compile(g *ir.Graph) (*Model, error) {
	c := &compiler{g: g, vals: map[string]*val{}, prod: map[*val]*plan{}, uses: map[string]int{}}
	for name, t := range g.Consts {
		c.vals[name] = &val{name: name, shape: t.Shape, c: t}
	}
	for _, in := range g.Inputs {
		if len(in.Shape) == 0 || len(in.Shape) > maxRank || !sizeOK(in.Shape) || slices.Min(in.Shape) < 1 {
			return nil, fmt.Errorf("model %s: input %q has unsupported shape %v", g.Name, in.Name, in.Shape)
		}
		c.vals[in.Name] = &val{name: in.Name, shape: slices.Clone(in.Shape), last: -1}
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			c.uses[in]++
		}
	}
	for _, o := range g.Outputs {
		c.uses[o]++
	}
	for _, n := range g.Nodes {
		if err := c.node(n); err != nil {
			return nil, err
		}
	}
	m := &Model{name: g.Name, ops: g.OpCounts()}
	for _, o := range g.Outputs {
		v, ok := c.vals[o]
		if !ok {
			return nil, fmt.Errorf("model %s: output %q is never produced", g.Name, o)
		}
		v.root().out = true
	}
	// liveness and memory plan
	for i, p := range c.plans {
		for _, in := range p.ins {
			if in != nil && !in.isConst() {
				in.root().last = i
			}
		}
	}
	var arena int
	type block struct{ off, size int }
	var free []block
	alloc := func(v *val) {
		v = v.root()
		if v.planned {
			return
		}
		need := max(ir.NumElements(v.shape), 1)
		best := -1
		for i, b := range free {
			if b.size >= need && (best < 0 || b.size < free[best].size) {
				best = i
			}
		}
		if best >= 0 {
			v.off, v.size = free[best].off, free[best].size
			free = append(free[:best], free[best+1:]...)
		} else {
			v.off, v.size = arena, need
			arena += need
		}
		v.planned = true
	}
	release := func(v *val) {
		v = v.root()
		if v.out || !v.planned {
			return
		}
		free = append(free, block{v.off, v.size})
	}
	for _, in := range g.Inputs {
		alloc(c.vals[in.Name])
	}
	for i, p := range c.plans {
		for _, o := range p.outs {
			alloc(o)
		}
		seen := map[*val]bool{}
		for _, in := range p.ins {
			if in != nil && !in.isConst() {
				r := in.root()
				if r.last == i && !seen[r] {
					seen[r] = true
					release(r)
				}
			}
		}
		for _, o := range p.outs {
			if r := o.root(); r.last < i && !r.out {
				release(r)
			}
		}
	}
	if arena > MaxArena {
		return nil, fmt.Errorf("model %s: activations need %d MiB, more than the %d MiB limit", g.Name, arena>>18, MaxArena>>18)
	}
	m.arena = make([]float32, arena)
	bind := func(v *val) {
		r := v.root()
		r.buf = m.arena[r.off : r.off+r.size]
	}
	for _, v := range c.vals {
		if !v.isConst() && v.root().planned {
			bind(v)
		}
	}
	var scratch int
	for _, p := range c.plans {
		s, err := c.build(p)
		if err != nil {
			return nil, err
		}
		m.steps = append(m.steps, s)
		if k, ok := s.(*convK); ok && k.col == nil && !k.pointwise && !k.depthwise {
			scratch = max(scratch, k.kdim()*k.oh*k.ow)
		}
	}
	if arena+scratch > MaxArena {
		return nil, fmt.Errorf("model %s: activations and im2col need %d MiB, more than the %d MiB limit", g.Name, (arena+scratch)>>18, MaxArena>>18)
	}
	m.scratch = make([]float32, scratch)
	for _, s := range m.steps {
		if k, ok := s.(*convK); ok && !k.pointwise && !k.depthwise {
			k.col = m.scratch[:k.kdim()*k.oh*k.ow]
		}
	}
	for _, in := range g.Inputs {
		v := c.vals[in.Name]
		m.inputs = append(m.inputs, port{Name: in.Name, Shape: v.shape, buf: v.data()})
	}
	for _, o := range g.Outputs {
		v := c.vals[o]
		if v.isConst() {
			return nil, fmt.Errorf("model %s: output %q is a constant", g.Name, o)
		}
		m.outputs = append(m.outputs, port{Name: o, Shape: v.shape, buf: v.data()})
	}
	m.arenaBytes = 4 * (arena + scratch)
	return m, nil
}

func (c *compiler) in(n *ir.Node, i int) (*val, error) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, nil
	}
	v, ok := c.vals[n.Inputs[i]]
	if !ok {
		return nil, c.errf(n, "input %q is not defined before use", n.Inputs[i])
	}
	return v, nil
}

var activationOps = map[string]bool{"Relu": true, "Clip": true, "LeakyRelu": true, "PRelu": true}

// node handles one graph node: fold it, fuse it, or plan it.
func (c *compiler) node(n *ir.Node) error {
	ins := make([]*val, len(n.Inputs))
	allConst := true
	for i := range n.Inputs {
		v, err := c.in(n, i)
		if err != nil {
			return err
		}
		ins[i] = v
		if v != nil && !v.isConst() {
			allConst = false
		}
	}
	if len(n.Outputs) == 0 {
		return c.errf(n, "no outputs")
	}
	if len(ins) == 0 || ins[0] == nil {
		return c.errf(n, "missing first input")
	}
	if n.Op == "Shape" {
		sh := ins[0].shape
		t := &ir.Tensor{DType: ir.Int64, Shape: []int{len(sh)}, I: make([]int64, len(sh))}
		for i, d := range sh {
			t.I[i] = int64(d)
		}
		c.vals[n.Outputs[0]] = &val{name: n.Outputs[0], shape: t.Shape, c: t}
		return nil
	}
	if allConst {
		return c.fold(n, ins)
	}
	if ins[0].isConst() && n.Op != "Add" && n.Op != "Mul" && n.Op != "Sub" && n.Op != "Div" && n.Op != "Concat" {
		return c.errf(n, "a constant first input with a run-time second input is not supported")
	}
	// fuse an activation into the kernel producing its only input
	if activationOps[n.Op] && !ins[0].isConst() && c.uses[n.Inputs[0]] == 1 {
		if p, ok := c.prod[ins[0]]; ok && p.act.kind == actNone && fusable(p.n.Op) {
			a, err := c.activation(n, ins)
			if err == nil && (a.kind != actPRelu || p.n.Op != "Add" || len(a.slope) == 1) {
				p.act = a
				c.vals[n.Outputs[0]] = ins[0]
				return nil
			}
		}
	}
	shapes, err := c.infer(n, ins)
	if err != nil {
		return err
	}
	for _, sh := range shapes {
		if !aliasOps[n.Op] && (len(sh) == 0 || len(sh) > maxRank || slices.Min(sh) < 1 || !sizeOK(sh)) {
			return c.errf(n, "output shape %v is not supported (empty, scalar or too large)", sh)
		}
	}
	p := &plan{n: n, ins: ins}
	for i, o := range n.Outputs {
		if i >= len(shapes) {
			return c.errf(n, "output %d is not supported", i)
		}
		v := &val{name: o, shape: shapes[i], last: -1}
		if aliasOps[n.Op] {
			v.base = ins[0]
			c.vals[o] = v
			continue
		}
		p.outs = append(p.outs, v)
		c.vals[o] = v
		c.prod[v] = p
	}
	if !aliasOps[n.Op] {
		c.plans = append(c.plans, p)
	}
	return nil
}

// aliasOps reinterpret their input's storage with a new shape.
var aliasOps = map[string]bool{"Reshape": true, "Flatten": true, "Squeeze": true, "Unsqueeze": true, "Identity": true, "Dropout": true}

func fusable(op string) bool {
	switch op {
	case "Conv", "Gemm", "MatMul", "BatchNormalization", "Add":
		return true
	}
	return false
}

// activation returns the fused form of an activation node.
func (c *compiler) activation(n *ir.Node, ins []*val) (act, error) {
	switch n.Op {
	case "Relu":
		return act{kind: actRelu}, nil
	case "LeakyRelu":
		return act{kind: actLeaky, alpha: n.Float("alpha", 0.01)}, nil
	case "Clip":
		lo, hi, err := c.clipBounds(n, ins)
		return act{kind: actClip, lo: lo, hi: hi}, err
	case "PRelu":
		if len(ins) < 2 || ins[1] == nil || !ins[1].isConst() {
			return act{}, c.errf(n, "slope must be a constant")
		}
		s := ins[1].c.F
		ch := 1
		if len(ins[0].shape) > 1 {
			ch = ins[0].shape[1]
		}
		if len(s) != 1 && len(s) != ch {
			return act{}, c.errf(n, "slope shape %v is not per channel", ins[1].shape)
		}
		// per channel means shape [C], [C,1,1] or [1,C,1,1] against NCHW
		if len(s) == ch && ch > 1 {
			sh := ins[1].shape
			k := 0
			for _, d := range sh {
				if d != 1 {
					break
				}
				k++
			}
			if len(sh)-k != len(ins[0].shape)-1 && !(len(sh) == len(ins[0].shape) && k == 1) {
				return act{}, c.errf(n, "slope shape %v is not per channel", sh)
			}
		}
		return act{kind: actPRelu, slope: s}, nil
	}
	return act{}, c.errf(n, "not an activation")
}

func (c *compiler) clipBounds(n *ir.Node, ins []*val) (float32, float32, error) {
	lo, hi := n.Float("min", float32(math.Inf(-1))), n.Float("max", float32(math.Inf(1)))
	for i, p := range []*float32{&lo, &hi} {
		if len(ins) > i+1 && ins[i+1] != nil {
			if !ins[i+1].isConst() || len(ins[i+1].c.F) != 1 {
				return 0, 0, c.errf(n, "bounds must be scalar constants")
			}
			*p = ins[i+1].c.F[0]
		}
	}
	return lo, hi, nil
}

func axisOf(a int64, rank int) (int, bool) {
	if a < 0 {
		a += int64(rank)
	}
	return int(a), a >= 0 && a < int64(rank)
}

// broadcast returns the numpy-broadcast shape of a and b.
func broadcast(a, b []int) ([]int, bool) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := 0; i < r; i++ {
		da, db := 1, 1
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, false
		}
	}
	return out, true
}

// bstrides returns the element strides of shape s broadcast to out.
func bstrides(s, out []int) []int {
	str := make([]int, len(out))
	acc := 1
	for i := len(out) - 1; i >= 0; i-- {
		j := i - (len(out) - len(s))
		if j >= 0 && s[j] != 1 {
			str[i] = acc
		}
		if j >= 0 {
			acc *= s[j]
		}
	}
	return str
}

func strides(s []int) []int {
	str := make([]int, len(s))
	acc := 1
	for i := len(s) - 1; i >= 0; i-- {
		str[i] = acc
		acc *= s[i]
	}
	return str
}

// ints returns a constant input as int64s, or attr name when the input is
// absent.
func (c *compiler) ints(n *ir.Node, ins []*val, i int, attr string) ([]int64, error) {
	if len(ins) > i && ins[i] != nil {
		v := ins[i]
		if !v.isConst() || v.c.DType != ir.Int64 {
			return nil, c.errf(n, "input %d must be an integer constant", i)
		}
		return v.c.I, nil
	}
	return n.Ints(attr), nil
}

// convGeom resolves a Conv or pool node's kernel geometry.
type geom struct {
	kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oh, ow int
}

func (c *compiler) geometry(n *ir.Node, h, w, kh, kw int) (geom, error) {
	g := geom{kh: kh, kw: kw, sh: 1, sw: 1, dh: 1, dw: 1}
	if s := n.Ints("strides"); len(s) == 2 {
		g.sh, g.sw = int(s[0]), int(s[1])
	}
	if d := n.Ints("dilations"); len(d) == 2 {
		g.dh, g.dw = int(d[0]), int(d[1])
	}
	if g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 || g.sh > 64 || g.sw > 64 || g.dh > 64 || g.dw > 64 {
		return g, c.errf(n, "invalid strides or dilations")
	}
	ekh, ekw := (kh-1)*g.dh+1, (kw-1)*g.dw+1
	switch ap := n.String("auto_pad", "NOTSET"); ap {
	case "NOTSET", "":
		if p := n.Ints("pads"); len(p) == 4 {
			g.pt, g.pl, g.pb, g.pr = int(p[0]), int(p[1]), int(p[2]), int(p[3])
		} else if len(p) != 0 {
			return g, c.errf(n, "pads %v: need 4 values", p)
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		oh, ow := (h+g.sh-1)/g.sh, (w+g.sw-1)/g.sw
		th := max((oh-1)*g.sh+ekh-h, 0)
		tw := max((ow-1)*g.sw+ekw-w, 0)
		g.pt, g.pl = th/2, tw/2
		if ap == "SAME_LOWER" {
			g.pt, g.pl = th-th/2, tw-tw/2
		}
		g.pb, g.pr = th-g.pt, tw-g.pl
	default:
		return g, c.errf(n, "auto_pad %q is not supported", ap)
	}
	if g.pt < 0 || g.pl < 0 || g.pb < 0 || g.pr < 0 || g.pt > 64 || g.pl > 64 || g.pb > 64 || g.pr > 64 {
		return g, c.errf(n, "invalid pads")
	}
	ch := h + g.pt + g.pb - ekh
	cw := w + g.pl + g.pr - ekw
	if n.Int("ceil_mode", 0) != 0 {
		ch += g.sh - 1
		cw += g.sw - 1
	}
	g.oh, g.ow = ch/g.sh+1, cw/g.sw+1
	if ch < 0 || cw < 0 || g.oh < 1 || g.ow < 1 {
		return g, c.errf(n, "kernel larger than its padded input")
	}
	return g, nil
}

// infer returns the output shapes of a run-time node.
func (c *compiler) infer(n *ir.Node, ins []*val) ([][]int, error) {
	x := ins[0].shape
	same := [][]int{slices.Clone(x)}
	switch n.Op {
	case "Relu", "Sigmoid", "Exp", "Abs", "LeakyRelu", "Clip", "Identity", "Dropout", "Softmax", "Cast":
		if n.Op == "Cast" && n.Int("to", 1) != 1 {
			return nil, c.errf(n, "only casts to float are supported at run time")
		}
		return same, nil
	case "Add", "Sub", "Mul", "Div", "PRelu":
		if len(ins) != 2 || ins[1] == nil {
			return nil, c.errf(n, "needs two inputs")
		}
		out, ok := broadcast(x, ins[1].shape)
		if !ok || len(out) > maxRank || len(out) == 0 {
			return nil, c.errf(n, "shapes %v and %v do not broadcast", x, ins[1].shape)
		}
		if n.Op == "PRelu" && !slices.Equal(out, x) {
			return nil, c.errf(n, "slope %v does not broadcast to %v", ins[1].shape, x)
		}
		return [][]int{out}, nil
	case "Conv":
		if len(x) != 4 || len(ins) < 2 || ins[1] == nil || !ins[1].isConst() || len(ins[1].shape) != 4 {
			return nil, c.errf(n, "needs a 4-D input and constant 4-D weights")
		}
		w := ins[1].shape
		if slices.Min(w) < 1 || w[2] > 64 || w[3] > 64 {
			return nil, c.errf(n, "weights %v: empty or kernel larger than 64", w)
		}
		grp := int(n.Int("group", 1))
		if grp < 1 || x[1]%grp != 0 || w[0]%grp != 0 || w[1]*grp != x[1] {
			return nil, c.errf(n, "weights %v do not fit input %v with %d groups", w, x, grp)
		}
		if len(ins) > 2 && ins[2] != nil && (!ins[2].isConst() || ins[2].c.Len() != w[0]) {
			return nil, c.errf(n, "bias must be a constant of %d values", w[0])
		}
		g, err := c.geometry(n, x[2], x[3], w[2], w[3])
		if err != nil {
			return nil, err
		}
		return [][]int{{x[0], w[0], g.oh, g.ow}}, nil
	case "MaxPool", "AveragePool":
		k := n.Ints("kernel_shape")
		if len(x) != 4 || len(k) != 2 || k[0] < 1 || k[1] < 1 || k[0] > 64 || k[1] > 64 {
			return nil, c.errf(n, "needs a 4-D input and a 2-D kernel")
		}
		g, err := c.geometry(n, x[2], x[3], int(k[0]), int(k[1]))
		if err != nil {
			return nil, err
		}
		return [][]int{{x[0], x[1], g.oh, g.ow}}, nil
	case "GlobalAveragePool":
		if len(x) != 4 {
			return nil, c.errf(n, "needs a 4-D input")
		}
		return [][]int{{x[0], x[1], 1, 1}}, nil
	case "Concat":
		ax, ok := axisOf(n.Int("axis", 0), len(x))
		if !ok {
			return nil, c.errf(n, "axis out of range")
		}
		out := slices.Clone(x)
		out[ax] = 0
		for _, in := range ins {
			if in == nil || len(in.shape) != len(x) {
				return nil, c.errf(n, "inputs of different rank")
			}
			for d := range x {
				if d != ax && in.shape[d] != x[d] {
					return nil, c.errf(n, "shapes %v and %v differ off the axis", x, in.shape)
				}
			}
			if in.isConst() && in.c.DType != ir.Float32 {
				return nil, c.errf(n, "integer input at run time")
			}
			out[ax] += in.shape[ax]
		}
		return [][]int{out}, nil
	case "Reshape":
		var spec []int64
		if len(ins) > 1 && ins[1] != nil {
			s, err := c.ints(n, ins, 1, "")
			if err != nil {
				return nil, err
			}
			spec = s
		} else {
			spec = n.Ints("shape")
		}
		out, err := reshape(x, spec)
		if err != nil {
			return nil, c.errf(n, "%v", err)
		}
		return [][]int{out}, nil
	case "Flatten":
		ax, ok := axisOf(n.Int("axis", 1), len(x)+1)
		if !ok {
			return nil, c.errf(n, "axis out of range")
		}
		return [][]int{{ir.NumElements(x[:ax]), ir.NumElements(x[ax:])}}, nil
	case "Unsqueeze", "Squeeze":
		axes, err := c.ints(n, ins, 1, "axes")
		if err != nil {
			return nil, err
		}
		out, err := squeeze(n.Op == "Unsqueeze", x, axes)
		if err != nil {
			return nil, c.errf(n, "%v", err)
		}
		return [][]int{out}, nil
	case "Transpose":
		perm, err := permOf(n.Ints("perm"), len(x))
		if err != nil {
			return nil, c.errf(n, "%v", err)
		}
		out := make([]int, len(x))
		for i, p := range perm {
			out[i] = x[p]
		}
		return [][]int{out}, nil
	case "Slice":
		sl, err := c.slice(n, ins)
		if err != nil {
			return nil, err
		}
		return [][]int{sl.shape}, nil
	case "Gather":
		ax, ok := axisOf(n.Int("axis", 0), len(x))
		if !ok || len(ins) < 2 || ins[1] == nil || !ins[1].isConst() || ins[1].c.DType != ir.Int64 || ins[1].c.Len() != 1 {
			return nil, c.errf(n, "only a constant single index is supported at run time")
		}
		out := slices.Clone(x[:ax])
		out = append(out, ins[1].shape...)
		return [][]int{append(out, x[ax+1:]...)}, nil
	case "Gemm", "MatMul", "FullyConnected":
		d, err := c.dense(n, ins)
		if err != nil {
			return nil, err
		}
		if n.Op == "MatMul" {
			return [][]int{append(slices.Clone(x[:len(x)-1]), d.n)}, nil
		}
		return [][]int{{d.m, d.n}}, nil
	case "BatchNormalization":
		if len(x) < 2 || len(ins) < 5 {
			return nil, c.errf(n, "needs X, scale, B, mean, var")
		}
		for _, p := range ins[1:5] {
			if p == nil || !p.isConst() || p.c.Len() != x[1] {
				return nil, c.errf(n, "parameters must be constants of %d values", x[1])
			}
		}
		return same, nil
	case "Pad":
		pads, err := c.ints(n, ins, 1, "pads")
		if err != nil {
			return nil, err
		}
		if mode := n.String("mode", "constant"); mode != "constant" {
			return nil, c.errf(n, "mode %q is not supported", mode)
		}
		if len(pads) != 2*len(x) || len(x) > maxRank {
			return nil, c.errf(n, "pads %v do not fit rank %d", pads, len(x))
		}
		out := slices.Clone(x)
		for i := range x {
			b, e := pads[i], pads[i+len(x)]
			if b < 0 || e < 0 || b > 1<<16 || e > 1<<16 {
				return nil, c.errf(n, "negative or huge pads are not supported")
			}
			out[i] += int(b + e)
		}
		if !sizeOK(out) {
			return nil, c.errf(n, "output too large")
		}
		return [][]int{out}, nil
	}
	return nil, &ir.OpError{Model: c.g.Name, Op: n.Op}
}

// MaxArena bounds the planned activation memory of one model, in float32
// values (256 MiB; the largest pinned model, MobileFaceNet, needs 19 MiB), so
// that a hostile model file cannot make the loader allocate more than that.
var MaxArena = 1 << 26

// maxElements bounds any planned tensor (the largest pinned-model
// activation has 1.2 M values).
const maxElements = 1 << 26

func sizeOK(shape []int) bool {
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > maxElements/d) {
			return false
		}
		n *= d
	}
	return true
}

func reshape(x []int, spec []int64) ([]int, error) {
	out := make([]int, len(spec))
	infer := -1
	known := 1
	for i, s := range spec {
		switch {
		case s == 0 && i < len(x):
			out[i] = x[i]
		case s == -1 && infer < 0:
			infer = i
			continue
		case s > 0 && s <= maxElements:
			out[i] = int(s)
		default:
			return nil, fmt.Errorf("invalid shape %v for input %v", spec, x)
		}
		known *= out[i]
		if known > maxElements {
			return nil, fmt.Errorf("shape %v too large", spec)
		}
	}
	total := ir.NumElements(x)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("shape %v does not fit input %v", spec, x)
		}
		out[infer] = total / known
	}
	if ir.NumElements(out) != total {
		return nil, fmt.Errorf("shape %v does not fit input %v", spec, x)
	}
	return out, nil
}

func squeeze(unsq bool, x []int, axes []int64) ([]int, error) {
	if unsq {
		r := len(x) + len(axes)
		if r > maxRank {
			return nil, fmt.Errorf("rank %d too large", r)
		}
		mark := make([]bool, r)
		for _, a := range axes {
			ax, ok := axisOf(a, r)
			if !ok || mark[ax] {
				return nil, fmt.Errorf("invalid axes %v", axes)
			}
			mark[ax] = true
		}
		out := make([]int, 0, r)
		j := 0
		for i := 0; i < r; i++ {
			if mark[i] {
				out = append(out, 1)
			} else {
				out = append(out, x[j])
				j++
			}
		}
		return out, nil
	}
	mark := make([]bool, len(x))
	for _, a := range axes {
		ax, ok := axisOf(a, len(x))
		if !ok || x[ax] != 1 {
			return nil, fmt.Errorf("invalid axes %v", axes)
		}
		mark[ax] = true
	}
	var out []int
	for i, d := range x {
		if !mark[i] && (len(axes) > 0 || d != 1) {
			out = append(out, d)
		}
	}
	return out, nil
}

func permOf(p []int64, r int) ([]int, error) {
	perm := make([]int, r)
	if len(p) == 0 {
		for i := range perm {
			perm[i] = r - 1 - i
		}
		return perm, nil
	}
	if len(p) != r || r > maxRank {
		return nil, fmt.Errorf("perm %v does not fit rank %d", p, r)
	}
	seen := make([]bool, r)
	for i, v := range p {
		if v < 0 || v >= int64(r) || seen[v] {
			return nil, fmt.Errorf("invalid perm %v", p)
		}
		seen[v] = true
		perm[i] = int(v)
	}
	return perm, nil
}

type sliceSpec struct {
	shape  []int
	starts []int
}

func (c *compiler) slice(n *ir.Node, ins []*val) (sliceSpec, error) {
	x := ins[0].shape
	starts, err := c.ints(n, ins, 1, "starts")
	if err != nil {
		return sliceSpec{}, err
	}
	ends, err := c.ints(n, ins, 2, "ends")
	if err != nil {
		return sliceSpec{}, err
	}
	axes, err := c.ints(n, ins, 3, "axes")
	if err != nil {
		return sliceSpec{}, err
	}
	steps, err := c.ints(n, ins, 4, "steps")
	if err != nil {
		return sliceSpec{}, err
	}
	if len(starts) != len(ends) || (len(axes) != 0 && len(axes) != len(starts)) {
		return sliceSpec{}, c.errf(n, "starts, ends and axes differ in length")
	}
	for _, s := range steps {
		if s != 1 {
			return sliceSpec{}, c.errf(n, "steps other than 1 are not supported")
		}
	}
	sp := sliceSpec{shape: slices.Clone(x), starts: make([]int, len(x))}
	for i := range starts {
		ax := i
		if len(axes) > 0 {
			a, ok := axisOf(axes[i], len(x))
			if !ok {
				return sliceSpec{}, c.errf(n, "axis out of range")
			}
			ax = a
		}
		d := int64(x[ax])
		clamp := func(v int64) int64 {
			if v < 0 {
				v += d
			}
			return min(max(v, 0), d)
		}
		s, e := clamp(starts[i]), clamp(ends[i])
		if e < s {
			e = s
		}
		sp.starts[ax] = int(s)
		sp.shape[ax] = int(e - s)
	}
	return sp, nil
}

// dense resolves Gemm / MatMul / FullyConnected with a constant right
// operand into M, K, N and a K×N weight matrix.
func (c *compiler) dense(n *ir.Node, ins []*val) (*denseK, error) {
	x := ins[0].shape
	if len(ins) < 2 || ins[1] == nil || !ins[1].isConst() || len(ins[1].shape) != 2 || len(x) < 1 {
		return nil, c.errf(n, "needs a constant 2-D right operand")
	}
	if n.Int("transA", 0) != 0 {
		return nil, c.errf(n, "transA is not supported")
	}
	w := ins[1].shape
	k, nn := w[0], w[1]
	if k < 1 || nn < 1 {
		return nil, c.errf(n, "empty weights %v", w)
	}
	trans := n.Int("transB", 0) != 0
	if trans {
		k, nn = w[1], w[0]
	}
	if x[len(x)-1] != k || (n.Op != "MatMul" && len(x) != 2) {
		return nil, c.errf(n, "input %v does not fit weights %v", x, w)
	}
	d := &denseK{m: ir.NumElements(x) / k, k: k, n: nn}
	alpha, beta := n.Float("alpha", 1), n.Float("beta", 1)
	d.w = make([]float32, k*nn)
	for i := 0; i < k; i++ {
		for j := 0; j < nn; j++ {
			v := ins[1].c.F[i*nn+j]
			if trans {
				v = ins[1].c.F[j*k+i]
			}
			d.w[i*nn+j] = alpha * v
		}
	}
	if len(ins) > 2 && ins[2] != nil {
		b := ins[2]
		if !b.isConst() || (b.c.Len() != nn && b.c.Len() != 1) {
			return nil, c.errf(n, "bias must be a constant of %d values", nn)
		}
		d.bias = make([]float32, nn)
		for j := range d.bias {
			d.bias[j] = beta * b.c.F[min(j, b.c.Len()-1)]
		}
	}
	return d, nil
}

// build makes the kernel of a planned node bound to its buffers.
func (c *compiler) build(p *plan) (runner, error) {
	n, ins := p.n, p.ins
	x := ins[0]
	out := p.outs[0]
	switch n.Op {
	case "Relu", "Sigmoid", "Exp", "Abs", "LeakyRelu", "Clip", "Identity", "Dropout", "Cast":
		k := &unaryK{in: x.data(), out: out.data(), alpha: n.Float("alpha", 0.01)}
		switch n.Op {
		case "Relu":
			k.op = unRelu
		case "Sigmoid":
			k.op = unSigmoid
		case "Exp":
			k.op = unExp
		case "Abs":
			k.op = unAbs
		case "LeakyRelu":
			k.op = unLeaky
		case "Clip":
			lo, hi, err := c.clipBounds(n, ins)
			if err != nil {
				return nil, err
			}
			k.op, k.lo, k.hi = unClip, lo, hi
		default:
			k.op = unCopy
		}
		return k, nil
	case "Add", "Sub", "Mul", "Div", "PRelu":
		op := map[string]binOp{"Add": binAdd, "Sub": binSub, "Mul": binMul, "Div": binDiv, "PRelu": binPRelu}[n.Op]
		if ins[1].isConst() && ins[1].c.DType != ir.Float32 || x.isConst() && x.c.DType != ir.Float32 {
			return nil, c.errf(n, "integer operand at run time")
		}
		return &binK{op: op, a: x.data(), b: ins[1].data(), out: out.data(), shape: out.shape,
			astr: bstrides(x.shape, out.shape), bstr: bstrides(ins[1].shape, out.shape), act: p.act}, nil
	case "Conv":
		w := ins[1]
		g, err := c.geometry(n, x.shape[2], x.shape[3], w.shape[2], w.shape[3])
		if err != nil {
			return nil, err
		}
		grp := int(n.Int("group", 1))
		k := &convK{in: x.data(), out: out.data(), w: w.c.F, act: p.act,
			n: x.shape[0], c: x.shape[1], h: x.shape[2], wd: x.shape[3], m: w.shape[0], oh: g.oh, ow: g.ow,
			kh: g.kh, kw: g.kw, sh: g.sh, sw: g.sw, dh: g.dh, dw: g.dw, pt: g.pt, pl: g.pl, group: grp}
		if len(ins) > 2 && ins[2] != nil {
			k.bias = ins[2].c.F
		}
		k.depthwise = grp > 1 && w.shape[1] == 1
		if k.depthwise {
			k.zero = make([]float32, k.wd)
		}
		k.pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.pb == 0 && g.pr == 0
		if len(p.act.slope) > 1 && len(p.act.slope) != k.m {
			return nil, c.errf(n, "PRelu slope does not match %d channels", k.m)
		}
		return k, nil
	case "MaxPool", "AveragePool", "GlobalAveragePool":
		s := x.shape
		k := &poolK{in: x.data(), out: out.data(), n: s[0], c: s[1], h: s[2], w: s[3], oh: out.shape[2], ow: out.shape[3],
			max: n.Op == "MaxPool", countPad: n.Int("count_include_pad", 0) != 0, global: n.Op == "GlobalAveragePool"}
		if !k.global {
			ks := n.Ints("kernel_shape")
			g, err := c.geometry(n, s[2], s[3], int(ks[0]), int(ks[1]))
			if err != nil {
				return nil, err
			}
			k.kh, k.kw, k.sh, k.sw, k.pt, k.pl = g.kh, g.kw, g.sh, g.sw, g.pt, g.pl
		}
		return k, nil
	case "Concat":
		ax, _ := axisOf(n.Int("axis", 0), len(x.shape))
		inner := ir.NumElements(out.shape[ax+1:])
		k := &concatK{out: out.data(), outer: ir.NumElements(out.shape[:ax])}
		for _, in := range ins {
			k.ins = append(k.ins, in.data())
			k.chunk = append(k.chunk, in.shape[ax]*inner)
		}
		return k, nil
	case "Softmax":
		ax, ok := axisOf(n.Int("axis", 1), len(x.shape))
		if !ok {
			return nil, c.errf(n, "axis out of range")
		}
		return &softmaxK{in: x.data(), out: out.data(), n: ir.NumElements(x.shape[ax:])}, nil
	case "Transpose":
		perm, _ := permOf(n.Ints("perm"), len(x.shape))
		st := strides(x.shape)
		k := &stridedK{in: x.data(), out: out.data(), shape: out.shape, str: make([]int, len(perm))}
		for i, pp := range perm {
			k.str[i] = st[pp]
		}
		return k, nil
	case "Slice":
		sp, err := c.slice(n, ins)
		if err != nil {
			return nil, err
		}
		st := strides(x.shape)
		k := &stridedK{in: x.data(), out: out.data(), shape: out.shape, str: st}
		for d, s := range sp.starts {
			k.base += s * st[d]
		}
		if len(out.shape) == 0 {
			return nil, c.errf(n, "scalar slice")
		}
		return k, nil
	case "Gather":
		ax, _ := axisOf(n.Int("axis", 0), len(x.shape))
		idx := ins[1].c.I[0]
		if idx < 0 {
			idx += int64(x.shape[ax])
		}
		if idx < 0 || idx >= int64(x.shape[ax]) {
			return nil, c.errf(n, "index out of range")
		}
		st := strides(x.shape)
		// view: output dims are x's without ax (plus index dims of size 1)
		var shape, str []int
		for d := range x.shape {
			if d != ax {
				shape, str = append(shape, x.shape[d]), append(str, st[d])
			}
		}
		if len(shape) == 0 {
			shape, str = []int{1}, []int{1}
		}
		return &stridedK{in: x.data(), out: out.data(), base: int(idx) * st[ax], shape: shape, str: str}, nil
	case "Gemm", "MatMul", "FullyConnected":
		d, err := c.dense(n, ins)
		if err != nil {
			return nil, err
		}
		d.in, d.out, d.act = x.data(), out.data(), p.act
		return d, nil
	case "BatchNormalization":
		eps := n.Float("epsilon", 1e-5)
		ch := x.shape[1]
		k := &affineK{in: x.data(), out: out.data(), c: ch, inner: ir.NumElements(x.shape[2:]), act: p.act,
			scale: make([]float32, ch), shift: make([]float32, ch)}
		sc, b, mean, vr := ins[1].c.F, ins[2].c.F, ins[3].c.F, ins[4].c.F
		for i := 0; i < ch; i++ {
			s := float64(sc[i]) / math.Sqrt(float64(vr[i])+float64(eps))
			k.scale[i] = float32(s)
			k.shift[i] = float32(float64(b[i]) - float64(mean[i])*s)
		}
		return k, nil
	case "Pad":
		pads, _ := c.ints(n, ins, 1, "pads")
		value := n.Float("value", 0)
		if len(ins) > 2 && ins[2] != nil {
			if !ins[2].isConst() || ins[2].c.Len() != 1 || ins[2].c.DType != ir.Float32 {
				return nil, c.errf(n, "pad value must be a float constant")
			}
			value = ins[2].c.F[0]
		}
		r := len(x.shape)
		k := &padK{in: x.data(), out: out.data(), inShape: x.shape, outShape: out.shape, value: value,
			outStride: strides(out.shape), begin: make([]int, r)}
		for i := range k.begin {
			k.begin[i] = int(pads[i])
		}
		return k, nil
	}
	return nil, &ir.OpError{Model: c.g.Name, Op: n.Op}
}

// sortedOps returns "Op×count" strings in name order.
func sortedOps(m map[string]int) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(out)
	return out
}
