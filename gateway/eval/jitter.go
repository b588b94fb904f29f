package eval

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/inference"
)

// Jitters are the crop perturbations of the steadiness measurement: the
// face box scaled by 0.9, 1 and 1.1, each unshifted and shifted by ±10 %
// of the box sideways and up/down (15 crops, the unperturbed one included).
var Jitters = func() []inference.Jitter {
	var js []inference.Jitter
	for _, s := range []float64{0.9, 1, 1.1} {
		for _, d := range [][2]float64{{0, 0}, {-0.1, 0}, {0.1, 0}, {0, -0.1}, {0, 0.1}} {
			js = append(js, inference.Jitter{Scale: s, DX: d[0], DY: d[1]})
		}
	}
	return js
}()

// JitterSample is one liveness sample scored under every jitter.
type JitterSample struct {
	File   string    `json:"file"`
	Live   string    `json:"live"`
	Attack string    `json:"attack,omitempty"`
	Scores []float64 `json:"scores"`
	// Min and Max bound the probability live over the jitters; SDLogit is
	// the standard deviation of its logit.
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	SDLogit float64 `json:"sd_logit"`
}

// JitterReport measures how steady liveness is under ±10 % crop jitter, on
// the counted samples (bona fide and real RGB attacks).
type JitterReport struct {
	Jitters []inference.Jitter `json:"jitters"`
	Samples []JitterSample     `json:"samples"`
	// Margin is the worst case over all jitters: the lowest bona fide
	// probability minus the highest attack probability; LogitMargin the
	// same in logits. Nil without both classes.
	Margin      *float64 `json:"margin"`
	LogitMargin *float64 `json:"logit_margin"`
	// MeanSDLogit is the mean over samples of SDLogit; MaxRange the largest
	// Max − Min of a sample.
	MeanSDLogit float64 `json:"mean_sd_logit"`
	MaxRange    float64 `json:"max_range"`
	// Errors is the number of (sample, jitter) scores on the wrong side of
	// the threshold, of N.
	Errors int `json:"errors"`
	N      int `json:"n"`
	// LivenessMS is the mean wall time of the liveness stage per analysed
	// frame over all jittered analyses, milliseconds.
	LivenessMS float64 `json:"liveness_ms"`
}

func jitterReport(ctx context.Context, a inference.Analyzer, cfg inference.Config, set Set, samples []SampleResult, progress io.Writer) (*JitterReport, error) {
	jr := &JitterReport{Jitters: Jitters, Samples: []JitterSample{}}
	var counted []SampleResult
	for _, s := range samples {
		if s.Role == RoleSelfie && (s.Live == LabelLive || s.Live == LabelSpoof) && !s.NIR && s.Liveness != nil {
			counted = append(counted, s)
		}
	}
	minBF, maxAtk := math.Inf(1), math.Inf(-1)
	var livTime time.Duration
	runs := 0
	for i, s := range counted {
		if progress != nil {
			fmt.Fprintf(progress, "eval: jitter %d/%d %s\n", i+1, len(counted), s.File)
		}
		f, err := os.Open(filepath.Join(set.Dir, filepath.FromSlash(s.File)))
		if err != nil {
			return nil, err
		}
		img, err := inference.DecodeLimits(f, cfg.MaxPixels, cfg.MaxBytes)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.File, err)
		}
		js := JitterSample{File: s.File, Live: s.Live, Attack: s.Attack, Min: math.Inf(1), Max: math.Inf(-1)}
		var lsum, lsum2 float64
		for _, j := range Jitters {
			opts := gateway.SelfieOptions
			opts.LivenessJitter = j
			an, err := a.Analyze(ctx, img, opts)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.File, err)
			}
			if an.Subject < 0 || an.Faces[an.Subject].Liveness < 0 {
				return nil, fmt.Errorf("%s: no face under jitter %+v", s.File, j)
			}
			livTime += an.Timings.Liveness
			runs++
			p := an.Faces[an.Subject].Liveness
			js.Scores = append(js.Scores, p)
			js.Min, js.Max = math.Min(js.Min, p), math.Max(js.Max, p)
			lg := Logit(p)
			lsum, lsum2 = lsum+lg, lsum2+lg*lg
			jr.N++
			if gateway.LivenessAccepted(p, cfg.LivenessThreshold) != (s.Live == LabelLive) {
				jr.Errors++
			}
		}
		n := float64(len(Jitters))
		js.SDLogit = math.Sqrt(math.Max(0, (lsum2-lsum*lsum/n)/(n-1)))
		jr.MeanSDLogit += js.SDLogit
		jr.MaxRange = math.Max(jr.MaxRange, js.Max-js.Min)
		if s.Live == LabelLive {
			minBF = math.Min(minBF, js.Min)
		} else {
			maxAtk = math.Max(maxAtk, js.Max)
		}
		jr.Samples = append(jr.Samples, js)
	}
	if len(jr.Samples) > 0 {
		jr.MeanSDLogit /= float64(len(jr.Samples))
	}
	if runs > 0 {
		jr.LivenessMS = ms(livTime) / float64(runs)
	}
	if !math.IsInf(minBF, 0) && !math.IsInf(maxAtk, 0) {
		m, lm := minBF-maxAtk, Logit(minBF)-Logit(maxAtk)
		jr.Margin, jr.LogitMargin = &m, &lm
	}
	return jr, nil
}

// ms is d in milliseconds, to 0.01 ms.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }
