package eval

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// Rate is an observed error rate with its one-sided 95 % upper confidence
// bound (ISO/IEC 19795-1 reports a rate with the number of trials behind it).
type Rate struct {
	// Errors is the number of erroneous decisions among N trials.
	Errors int `json:"errors"`
	// N is the number of trials (comparisons or presentations).
	N int `json:"n"`
	// Value is Errors/N, 0–1; 0 when N is 0.
	Value float64 `json:"value"`
	// Upper95 is the one-sided 95 % upper bound of the true rate: 3/N
	// ("rule of three") when Errors is 0, the Clopper–Pearson bound
	// (the 0.95 quantile of Beta(Errors+1, N−Errors)) otherwise; 1 when N
	// is 0 (nothing measured).
	Upper95 float64 `json:"upper95"`
}

// NewRate returns the rate of errors among n trials with its upper bound.
func NewRate(errors, n int) Rate {
	r := Rate{Errors: errors, N: n, Upper95: 1}
	if n <= 0 {
		return r
	}
	r.Value = float64(errors) / float64(n)
	switch {
	case errors == 0:
		r.Upper95 = math.Min(1, 3/float64(n))
	case errors >= n:
		r.Upper95 = 1
	default:
		r.Upper95 = distuv.Beta{Alpha: float64(errors + 1), Beta: float64(n - errors)}.Quantile(0.95)
	}
	return r
}

// accepted is the number of scores s with s ≥ t (the gateway accepts a
// similarity or a liveness probability at or above its threshold).
// scores must be sorted ascending.
func accepted(scores []float64, t float64) int {
	return len(scores) - sort.SearchFloat64s(scores, t)
}

// rejected is the number of scores below t; scores sorted ascending.
func rejected(scores []float64, t float64) int {
	return sort.SearchFloat64s(scores, t)
}

// ErrorPoint is one operating point of a two-class score set: the rate of
// wrongly accepted negatives (FMR, APCER) and wrongly rejected positives
// (FNMR, BPCER) at a threshold.
type ErrorPoint struct {
	Threshold float64 `json:"threshold"`
	// FalseAccept is FMR (matching) or APCER (liveness), 0–1.
	FalseAccept float64 `json:"false_accept"`
	// FalseReject is FNMR (matching) or BPCER (liveness), 0–1.
	FalseReject float64 `json:"false_reject"`
}

// curve returns the error points at every distinct score of pos ∪ neg and
// one above the largest, sorted by threshold, so that it holds every
// operating point the sets allow. pos and neg must be sorted ascending.
func curve(pos, neg []float64) []ErrorPoint {
	ts := append(append([]float64(nil), pos...), neg...)
	sort.Float64s(ts)
	var out []ErrorPoint
	for i, t := range ts {
		if i > 0 && t == ts[i-1] {
			continue
		}
		out = append(out, point(pos, neg, t))
	}
	if len(ts) > 0 {
		out = append(out, point(pos, neg, math.Nextafter(ts[len(ts)-1], math.Inf(1))))
	}
	return out
}

func point(pos, neg []float64, t float64) ErrorPoint {
	p := ErrorPoint{Threshold: t}
	if len(neg) > 0 {
		p.FalseAccept = float64(accepted(neg, t)) / float64(len(neg))
	}
	if len(pos) > 0 {
		p.FalseReject = float64(rejected(pos, t)) / float64(len(pos))
	}
	return p
}

// sweep returns the error points at thresholds lo, lo+step, …, hi.
func sweep(pos, neg []float64, lo, hi, step float64) []ErrorPoint {
	var out []ErrorPoint
	n := int(math.Round((hi - lo) / step))
	for i := 0; i <= n; i++ {
		t := math.Round((lo+float64(i)*step)*1e6) / 1e6
		out = append(out, point(pos, neg, t))
	}
	return out
}

// EER is the equal error rate of pos (accepted when ≥ t) against neg: the
// rate where the false-accept and false-reject curves cross, taken as the
// mean of the two at the threshold where they are closest (ISO/IEC 19795-1
// leaves the interpolation open; on small sets this is the honest choice).
// Threshold is that threshold; when the sets are separable, EER is 0 and
// Lo–Hi is the whole interval of thresholds with no error (Hi is the
// smallest positive score, Lo the next value above the largest negative).
type EER struct {
	// Measured is false when either class is empty; the rest is then 0.
	Measured  bool    `json:"measured"`
	Rate      float64 `json:"rate"`
	Threshold float64 `json:"threshold"`
	// Separable reports that some threshold makes no error.
	Separable bool `json:"separable"`
	// Lo and Hi bound the error-free thresholds when Separable.
	Lo float64 `json:"lo,omitempty"`
	Hi float64 `json:"hi,omitempty"`
}

// equalError computes the EER of sorted pos and neg.
func equalError(pos, neg []float64) EER {
	if len(pos) == 0 || len(neg) == 0 {
		return EER{}
	}
	if maxNeg, minPos := neg[len(neg)-1], pos[0]; maxNeg < minPos {
		return EER{Measured: true, Rate: 0, Threshold: (maxNeg + minPos) / 2, Separable: true,
			Lo: math.Nextafter(maxNeg, math.Inf(1)), Hi: minPos}
	}
	var best EER
	bestGap := math.Inf(1)
	for _, p := range curve(pos, neg) {
		gap := math.Abs(p.FalseAccept - p.FalseReject)
		if gap < bestGap {
			bestGap = gap
			best = EER{Measured: true, Rate: (p.FalseAccept + p.FalseReject) / 2, Threshold: p.Threshold}
		}
	}
	return best
}

// AtFalseAccept is the false-reject rate at the lowest threshold whose
// false-accept rate is at most Target (e.g. FNMR at FMR = 10⁻³). When the
// negative set is too small to show that rate (fewer than 3/Target trials:
// with no error observed the 95 % bound 3/N would still exceed Target),
// Measured is false and Needed says how many negative trials it takes.
type AtFalseAccept struct {
	Target      float64 `json:"target"`
	Measured    bool    `json:"measured"`
	Needed      int     `json:"needed_negatives,omitempty"`
	Threshold   float64 `json:"threshold,omitempty"`
	FalseReject Rate    `json:"false_reject,omitzero"`
}

// atFalseAccept computes the operating point for target on sorted sets.
func atFalseAccept(pos, neg []float64, target float64) AtFalseAccept {
	r := AtFalseAccept{Target: target}
	need := int(math.Ceil(3 / target))
	if len(neg) < need || len(pos) == 0 {
		r.Needed = need
		return r
	}
	// The smallest threshold t with accepted(neg, t)/N ≤ target: allow k
	// accepted negatives, so t is just above the (N−k)-th largest score.
	k := int(math.Floor(target * float64(len(neg))))
	t := math.Nextafter(neg[len(neg)-1-k], math.Inf(1))
	r.Measured, r.Threshold = true, t
	r.FalseReject = NewRate(rejected(pos, t), len(pos))
	return r
}

// Summary describes a score distribution.
type Summary struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
}

func summarize(s []float64) Summary {
	if len(s) == 0 {
		return Summary{}
	}
	sum := Summary{N: len(s), Min: math.Inf(1), Max: math.Inf(-1)}
	for _, v := range s {
		sum.Min, sum.Max = math.Min(sum.Min, v), math.Max(sum.Max, v)
		sum.Mean += v
	}
	sum.Mean /= float64(len(s))
	for _, v := range s {
		sum.SD += (v - sum.Mean) * (v - sum.Mean)
	}
	if len(s) > 1 {
		sum.SD = math.Sqrt(sum.SD / float64(len(s)-1))
	} else {
		sum.SD = 0
	}
	return sum
}
