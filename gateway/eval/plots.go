package eval

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"

	"gonum.org/v1/gonum/stat/distuv"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot sizes.
const (
	plotW = 16 * vg.Centimeter
	plotH = 12 * vg.Centimeter
)

// detMin and detMax bound the axes of a DET plot (error rates, 0–1). A rate
// of 0 is drawn at detMin: a normal-deviate axis has no 0.
const (
	detMin = 0.001
	detMax = 0.6
)

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

// WritePlots writes into dir the DET curves of every configuration
// (det_match.png: FNMR against FMR; det_liveness.png: BPCER against the
// worst APCER; both on normal-deviate axes as in ISO/IEC 19795-1) and each
// configuration's score histograms (hist_match[_N].png,
// hist_liveness[_N].png, N from 2 for the compared ones). It returns the
// files written.
func WritePlots(dir string, reps []Named) ([]string, error) {
	var files []string
	save := func(p *plot.Plot, name string) error {
		path := filepath.Join(dir, name)
		if err := p.Save(plotW, plotH, path); err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		files = append(files, path)
		return nil
	}
	match := func(r *Report) ([]ErrorPoint, ErrorPoint) {
		return r.Match.Curve, ErrorPoint{Threshold: r.Match.Threshold, FalseAccept: r.Match.FMR.Value, FalseReject: r.Match.FNMR.Value}
	}
	pad := func(r *Report) ([]ErrorPoint, ErrorPoint) {
		pt := r.Liveness.at(r.Liveness.Threshold)
		return r.Liveness.Curve, ErrorPoint{Threshold: pt.Threshold, FalseAccept: pt.APCER, FalseReject: pt.BPCER}
	}
	p, err := det(reps, "1:1 matching DET", "FMR (impostor matched)", "FNMR (genuine not matched)", match)
	if err != nil {
		return files, err
	}
	if err := save(p, "det_match.png"); err != nil {
		return files, err
	}
	p, err = det(reps, "Liveness DET", "APCER (worst attack type)", "BPCER", pad)
	if err != nil {
		return files, err
	}
	if err := save(p, "det_liveness.png"); err != nil {
		return files, err
	}
	for i, n := range reps {
		suffix := ""
		if i > 0 {
			suffix = fmt.Sprintf("_%d", i+1)
		}
		r := n.Report
		p, err := histogram("Cosine similarity — "+n.Name, "cosine similarity", r.Match.Threshold, []series{
			{"genuine", r.Match.GenuineScores}, {"impostor", r.Match.ImpostorScores}}, -1, 1)
		if err != nil {
			return files, err
		}
		if err := save(p, "hist_match"+suffix+".png"); err != nil {
			return files, err
		}
		ss := []series{{"bona fide", r.Liveness.BonaFideScores}}
		for _, a := range attackTypes {
			if v := r.Liveness.AttackScores[a]; len(v) > 0 {
				ss = append(ss, series{"attack: " + a, v})
			}
		}
		p, err = histogram("Probability live — "+n.Name, "probability live", r.Liveness.Threshold, ss, 0, 1)
		if err != nil {
			return files, err
		}
		if err := save(p, "hist_liveness"+suffix+".png"); err != nil {
			return files, err
		}
	}
	return files, nil
}

// probitScale maps an error rate to its standard normal deviate.
type probitScale struct{}

func (probitScale) Normalize(lo, hi, x float64) float64 {
	a, b := probit(lo), probit(hi)
	return (probit(x) - a) / (b - a)
}

func probit(p float64) float64 {
	return distuv.UnitNormal.Quantile(math.Min(math.Max(p, detMin), detMax))
}

func detTicks() plot.ConstantTicks {
	var t []plot.Tick
	for _, v := range []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6} {
		t = append(t, plot.Tick{Value: v, Label: trim(fmt.Sprintf("%.1f", v*100)) + "%"})
	}
	return t
}

func clampDET(v float64) float64 { return math.Min(math.Max(v, detMin), detMax) }

func det(reps []Named, title, x, y string, pts func(*Report) ([]ErrorPoint, ErrorPoint)) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = x+" (0 drawn at 0.1%)", y
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = detMin, detMax, detMin, detMax
	p.X.Scale, p.Y.Scale = probitScale{}, probitScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = detTicks(), detTicks()
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	for i, n := range reps {
		curve, op := pts(n.Report)
		xy := make(plotter.XYs, 0, len(curve))
		for _, c := range curve {
			xy = append(xy, plotter.XY{X: clampDET(c.FalseAccept), Y: clampDET(c.FalseReject)})
		}
		col := palette[i%len(palette)]
		if len(xy) > 0 {
			l, err := plotter.NewLine(xy)
			if err != nil {
				return nil, err
			}
			l.Color, l.Width = col, vg.Points(1.5)
			p.Add(l)
			p.Legend.Add(n.Name, l)
		}
		s, err := plotter.NewScatter(plotter.XYs{{X: clampDET(op.FalseAccept), Y: clampDET(op.FalseReject)}})
		if err != nil {
			return nil, err
		}
		s.Color, s.Shape, s.Radius = col, draw.CircleGlyph{}, vg.Points(4)
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("%s at threshold %s", n.Name, f3(op.Threshold)), s)
	}
	return p, nil
}

type series struct {
	name   string
	values []float64
}

func histogram(title, x string, threshold float64, ss []series, lo, hi float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, "count"
	p.X.Min, p.X.Max = lo, hi
	p.Legend.Top = true
	const bins = 40
	width := (hi - lo) / bins
	top := 1.0
	for i, s := range ss {
		if len(s.values) == 0 {
			continue
		}
		counts := make([]float64, bins)
		for _, v := range s.values {
			k := int(math.Floor((v - lo) / width))
			counts[min(max(k, 0), bins-1)]++
		}
		for _, c := range counts {
			top = math.Max(top, c)
		}
		var bs []plotter.HistogramBin
		for k, c := range counts {
			bs = append(bs, plotter.HistogramBin{Min: lo + float64(k)*width, Max: lo + float64(k+1)*width, Weight: c})
		}
		h := &plotter.Histogram{Bins: bs, Width: width, FillColor: fade(palette[i%len(palette)]),
			LineStyle: plotter.DefaultLineStyle}
		h.LineStyle.Color = palette[i%len(palette)]
		p.Add(h)
		p.Legend.Add(fmt.Sprintf("%s (n=%d)", s.name, len(s.values)), h)
	}
	l, err := plotter.NewLine(plotter.XYs{{X: threshold, Y: 0}, {X: threshold, Y: top}})
	if err != nil {
		return nil, err
	}
	l.Color, l.Dashes = color.Black, []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(l)
	p.Legend.Add("threshold "+f3(threshold), l)
	p.Y.Min = 0
	return p, nil
}

func fade(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 0x70}
}
