package eval

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/cli"
)

// Roles an image is analysed in.
const (
	// RoleCapture: the probe of a pair, analysed as the gateway analyses a
	// selfie but without liveness (identity photos are not liveness
	// samples), so the kiosk's quality gates apply.
	RoleCapture = "capture"
	// RoleReference: the reference of a pair (gateway.ReferenceOptions).
	RoleReference = "reference"
	// RoleSelfie: a liveness sample, analysed exactly as a submitted selfie
	// (gateway.SelfieOptions).
	RoleSelfie = "selfie"
)

// SampleResult is what the decision path made of one image in one role.
type SampleResult struct {
	File     string             `json:"file"`
	Role     string             `json:"role"`
	Decision inference.Decision `json:"decision"`
	// Error says why the image could not be read (DECODE_ERROR, TOO_LARGE).
	Error string `json:"error,omitempty"`
	// FaceSize is the subject's shorter box side in pixels; 0 without one.
	FaceSize float64 `json:"face_size,omitempty"`
	// Liveness is the subject's probability live, 0–1 (selfie role only).
	Liveness *float64 `json:"liveness,omitempty"`
	// LivenessMS and TotalMS are the wall time of the liveness stage and of
	// the whole analysis, in milliseconds (selfie role).
	LivenessMS float64 `json:"liveness_ms,omitempty"`
	TotalMS    float64 `json:"total_ms,omitempty"`
	// Live, Attack and NIR repeat the sample's labels (selfie role).
	Live   string `json:"live,omitempty"`
	Attack string `json:"attack,omitempty"`
	NIR    bool   `json:"nir,omitempty"`

	embedding []float32
}

// PairResult is one comparison.
type PairResult struct {
	Pair
	// Similarity is the cosine similarity, −1…1; nil when either image had
	// no usable face (a failure to acquire).
	Similarity *float64 `json:"similarity,omitempty"`
	// Match is gateway.MatchAccepted at the configured threshold.
	Match bool `json:"match"`
	// Unusable names the image without a usable face and its decision.
	Unusable string `json:"unusable,omitempty"`
}

// Options tune Run.
type Options struct {
	// Progress receives one line per analysed image ("eval: 12/34
	// identity/x.jpg (reference)"); nil for none.
	Progress io.Writer
	// Jitter also scores every counted liveness sample under the crop
	// perturbations of Jitters (Report.Jitter).
	Jitter bool
}

// Run analyses every image the set needs with a through the gateway's
// decision path under cfg and computes the matching and liveness reports.
// The error is non-nil only for runtime failures or a cancelled ctx;
// unreadable or faceless images are results.
func Run(ctx context.Context, a inference.Analyzer, cfg inference.Config, set Set, opt Options) (*Report, error) {
	progress := opt.Progress
	type job struct{ file, role string }
	var jobs []job
	seen := map[job]bool{}
	add := func(j job) {
		if !seen[j] {
			seen[j] = true
			jobs = append(jobs, j)
		}
	}
	for _, p := range set.Pairs {
		add(job{p.Probe, RoleCapture})
		add(job{p.Reference, RoleReference})
	}
	labels := map[string]Sample{}
	for _, s := range set.Samples {
		labels[s.File] = s
		if s.Live != LabelNA {
			add(job{s.File, RoleSelfie})
		}
	}
	results := map[job]*SampleResult{}
	for i, j := range jobs {
		if progress != nil {
			fmt.Fprintf(progress, "eval: %d/%d %s (%s)\n", i+1, len(jobs), j.file, j.role)
		}
		r, err := analyze(ctx, a, cfg, filepath.Join(set.Dir, filepath.FromSlash(j.file)), j.role)
		if err != nil {
			return nil, err
		}
		r.File = j.file
		if s, ok := labels[j.file]; ok && j.role == RoleSelfie {
			r.Live, r.Attack, r.NIR = s.Live, s.Attack, s.NIR
		}
		results[j] = r
	}

	embedder := cfg.Embedder
	if embedder == "" {
		embedder = inference.DefaultEmbedder
	}
	rep := &Report{Set: set.Dir, PairsFrom: set.PairsFrom, Embedder: embedder,
		Thresholds: Thresholds{Match: cfg.MatchThreshold, Liveness: cfg.LivenessThreshold}}
	for _, j := range jobs {
		rep.Samples = append(rep.Samples, *results[j])
	}
	for _, p := range set.Pairs {
		pr := PairResult{Pair: p}
		a, b := results[job{p.Probe, RoleCapture}], results[job{p.Reference, RoleReference}]
		switch {
		case a.Decision != inference.DecisionOK || len(a.embedding) == 0:
			pr.Unusable = fmt.Sprintf("%s %s", a.File, a.Decision)
		case b.Decision != inference.DecisionOK || len(b.embedding) == 0:
			pr.Unusable = fmt.Sprintf("%s %s", b.File, b.Decision)
		default:
			sim := inference.Cosine(a.embedding, b.embedding)
			pr.Similarity = &sim
			pr.Match = gateway.MatchAccepted(sim, cfg.MatchThreshold)
		}
		rep.Pairs = append(rep.Pairs, pr)
	}
	rep.Match = matchReport(rep.Pairs, cfg.MatchThreshold)
	rep.Liveness = padReport(rep.Samples, cfg.LivenessThreshold)
	if opt.Jitter {
		j, err := jitterReport(ctx, a, cfg, set, rep.Samples, progress)
		if err != nil {
			return nil, err
		}
		rep.Jitter = j
	}
	return rep, nil
}

// analyze runs the decision path on one file in one role.
func analyze(ctx context.Context, a inference.Analyzer, cfg inference.Config, path, role string) (*SampleResult, error) {
	opts := gateway.ReferenceOptions
	switch role {
	case RoleSelfie:
		opts = gateway.SelfieOptions
	case RoleCapture:
		opts = gateway.SelfieOptions
		opts.Liveness = false
	}
	rep, _, an, err := cli.Analyze(ctx, a, cfg, path, opts)
	if err != nil {
		return nil, err
	}
	r := &SampleResult{Role: role, Decision: rep.Decision, Error: rep.Error}
	if an.Subject >= 0 && an.Subject < len(an.Faces) {
		f := an.Faces[an.Subject]
		r.FaceSize = math.Round(f.Quality.FaceSize*10) / 10
		if f.Liveness >= 0 && opts.Liveness {
			l := f.Liveness
			r.Liveness = &l
		}
		r.embedding = f.Embedding
	}
	if opts.Liveness {
		r.LivenessMS = ms(an.Timings.Liveness)
		r.TotalMS = ms(an.Timings.Total)
	}
	return r, nil
}

// Thresholds are the configured decision thresholds.
type Thresholds struct {
	// Match is inference.match_threshold, cosine similarity −1…1.
	Match float64 `json:"match"`
	// Liveness is inference.liveness_threshold, probability live 0–1.
	Liveness float64 `json:"liveness"`
}

// Report is the evaluation of one configuration on one set.
type Report struct {
	Set       string `json:"set"`
	PairsFrom string `json:"pairs_from"`
	// Embedder is the configured inference.embedder (its scores are on
	// its own scale: compare thresholds only within one embedder).
	Embedder   string         `json:"embedder"`
	Thresholds Thresholds     `json:"thresholds"`
	Match      MatchReport    `json:"match"`
	Liveness   PADReport      `json:"liveness"`
	Samples    []SampleResult `json:"samples"`
	Pairs      []PairResult   `json:"pairs"`
	// Jitter is the liveness steadiness under crop jitter (Options.Jitter).
	Jitter *JitterReport `json:"jitter,omitempty"`
}

// Errors is the number of wrong decisions at the configured thresholds on
// counted trials: false matches, false non-matches, accepted attacks and
// rejected bona fide presentations. Failures to acquire are not counted.
func (r *Report) Errors() int {
	n := r.Match.FMR.Errors + r.Match.FNMR.Errors + r.Liveness.BPCER.Errors
	for _, s := range r.Liveness.APCER {
		n += s.APCER.Errors
	}
	return n
}

// MatchReport holds the 1:1 matching results (ISO/IEC 19795-1 terms).
type MatchReport struct {
	Threshold float64 `json:"threshold"`
	// Genuine and Impostor describe the similarity distributions of
	// same-person and different-person comparisons.
	Genuine  Summary `json:"genuine"`
	Impostor Summary `json:"impostor"`
	// FMR: impostor comparisons matched; FNMR: genuine ones not matched.
	FMR  Rate `json:"fmr"`
	FNMR Rate `json:"fnmr"`
	// FTA: pairs not compared because an image had no usable face, of all
	// pairs.
	FTA   Rate            `json:"fta"`
	EER   EER             `json:"eer"`
	AtFMR []AtFalseAccept `json:"fnmr_at_fmr"`
	// Sweep gives FMR (false_accept) and FNMR (false_reject) from −1 to 1.
	Sweep []ErrorPoint `json:"sweep"`
	// Curve holds every distinct operating point (for the DET plot).
	Curve []ErrorPoint `json:"-"`

	GenuineScores  []float64 `json:"genuine_scores"`
	ImpostorScores []float64 `json:"impostor_scores"`
}

func matchReport(pairs []PairResult, thr float64) MatchReport {
	m := MatchReport{Threshold: thr, GenuineScores: []float64{}, ImpostorScores: []float64{}}
	fta := 0
	for _, p := range pairs {
		switch {
		case p.Similarity == nil:
			fta++
		case p.Same:
			m.GenuineScores = append(m.GenuineScores, *p.Similarity)
		default:
			m.ImpostorScores = append(m.ImpostorScores, *p.Similarity)
		}
	}
	g, im := m.GenuineScores, m.ImpostorScores
	sort.Float64s(g)
	sort.Float64s(im)
	m.Genuine, m.Impostor = summarize(g), summarize(im)
	m.FMR = NewRate(accepted(im, thr), len(im))
	m.FNMR = NewRate(rejected(g, thr), len(g))
	m.FTA = NewRate(fta, len(pairs))
	m.EER = equalError(g, im)
	for _, t := range []float64{1e-2, 1e-3} {
		m.AtFMR = append(m.AtFMR, atFalseAccept(g, im, t))
	}
	m.Sweep = sweep(g, im, -1, 1, 0.05)
	if i := sort.Search(len(m.Sweep), func(i int) bool { return m.Sweep[i].Threshold >= thr }); i == len(m.Sweep) || m.Sweep[i].Threshold != thr {
		m.Sweep = slices.Insert(m.Sweep, i, point(g, im, thr))
	}
	m.Curve = curve(g, im)
	return m
}

// AttackRate is the APCER of one attack type.
type AttackRate struct {
	Attack string `json:"attack"`
	APCER  Rate   `json:"apcer"`
}

// PADPoint is one liveness operating point.
type PADPoint struct {
	Threshold float64 `json:"threshold"`
	// APCER is the largest APCER over the attack types (ISO/IEC 30107-3
	// reports the worst species).
	APCER    float64            `json:"apcer"`
	ByAttack map[string]float64 `json:"apcer_by_attack"`
	BPCER    float64            `json:"bpcer"`
	ACER     float64            `json:"acer"`
}

// PADReport holds the presentation-attack-detection results (ISO/IEC
// 30107-3 terms) of the counted samples: bona fide (live) and real RGB
// attacks (spoof, not near-infrared). Synthetic attacks and NIR frames are
// scored and listed in Apart, never counted.
type PADReport struct {
	Threshold float64 `json:"threshold"`
	// BPCER: bona fide presentations classified as attacks.
	BPCER Rate `json:"bpcer"`
	// APCER per attack type (print, replay, mask); a type with no counted
	// sample has N 0.
	APCER []AttackRate `json:"apcer"`
	// APCERMax is the largest APCER over the types with samples; ACER is
	// (APCERMax + BPCER)/2.
	APCERMax float64 `json:"apcer_max"`
	ACER     float64 `json:"acer"`
	EER      EER     `json:"eer"`
	BonaFide Summary `json:"bona_fide"`
	Attacks  Summary `json:"attacks"`
	// Margin is the smallest bona fide probability minus the largest attack
	// probability (negative: the classes overlap); LogitMargin the same in
	// logits, log(p/(1−p)). Nil without both classes.
	Margin      *float64 `json:"margin"`
	LogitMargin *float64 `json:"logit_margin"`
	// Sweep gives the error rates at thresholds 0, 0.05, …, 1.
	Sweep []PADPoint `json:"sweep"`
	// Curve: every distinct (max APCER, BPCER) point, for the DET plot.
	Curve []ErrorPoint `json:"-"`
	// Apart lists the scored samples not counted (synthetic, NIR);
	// Unscored the counted samples without a subject face.
	Apart    []SampleResult `json:"apart"`
	Unscored []SampleResult `json:"unscored"`
	// LivenessMS and TotalMS are the mean wall time per analysed selfie of
	// the liveness stage and of the whole analysis, milliseconds.
	LivenessMS float64 `json:"liveness_ms"`
	TotalMS    float64 `json:"total_ms"`

	BonaFideScores []float64            `json:"bona_fide_scores"`
	AttackScores   map[string][]float64 `json:"attack_scores"`
}

// attackTypes is the report order of attack types.
var attackTypes = []string{AttackPrint, AttackReplay, AttackMask, AttackOther}

func padReport(samples []SampleResult, thr float64) PADReport {
	p := PADReport{Threshold: thr, BonaFideScores: []float64{}, AttackScores: map[string][]float64{},
		Apart: []SampleResult{}, Unscored: []SampleResult{}}
	timed := 0
	for _, s := range samples {
		if s.Role != RoleSelfie || s.Live == LabelNA {
			continue
		}
		if s.Liveness != nil {
			p.LivenessMS += s.LivenessMS
			p.TotalMS += s.TotalMS
			timed++
		}
		if s.Live == LabelSynthetic || s.NIR {
			p.Apart = append(p.Apart, s)
			continue
		}
		if s.Liveness == nil {
			p.Unscored = append(p.Unscored, s)
			continue
		}
		if s.Live == LabelLive {
			p.BonaFideScores = append(p.BonaFideScores, *s.Liveness)
		} else {
			p.AttackScores[s.Attack] = append(p.AttackScores[s.Attack], *s.Liveness)
		}
	}
	if timed > 0 {
		p.LivenessMS /= float64(timed)
		p.TotalMS /= float64(timed)
	}
	bf := p.BonaFideScores
	sort.Float64s(bf)
	var all []float64
	for _, v := range p.AttackScores {
		sort.Float64s(v)
		all = append(all, v...)
	}
	sort.Float64s(all)
	p.BPCER = NewRate(rejected(bf, thr), len(bf))
	for _, t := range attackTypes {
		v := p.AttackScores[t]
		if len(v) == 0 && t == AttackOther {
			continue
		}
		r := NewRate(accepted(v, thr), len(v))
		p.APCER = append(p.APCER, AttackRate{Attack: t, APCER: r})
		if r.N > 0 {
			p.APCERMax = math.Max(p.APCERMax, r.Value)
		}
	}
	p.ACER = (p.APCERMax + p.BPCER.Value) / 2
	p.EER = equalError(bf, all)
	p.BonaFide, p.Attacks = summarize(bf), summarize(all)
	if len(bf) > 0 && len(all) > 0 {
		m, lm := bf[0]-all[len(all)-1], Logit(bf[0])-Logit(all[len(all)-1])
		p.Margin, p.LogitMargin = &m, &lm
	}
	for i := 0; i <= 20; i++ {
		p.Sweep = append(p.Sweep, p.at(math.Round(float64(i)*5)/100))
	}
	if i := sort.Search(len(p.Sweep), func(i int) bool { return p.Sweep[i].Threshold >= thr }); i == len(p.Sweep) || p.Sweep[i].Threshold != thr {
		p.Sweep = slices.Insert(p.Sweep, i, p.at(thr))
	}
	ts := append(append([]float64(nil), bf...), all...)
	sort.Float64s(ts)
	for i, t := range ts {
		if i == 0 || t != ts[i-1] {
			pt := p.at(t)
			p.Curve = append(p.Curve, ErrorPoint{Threshold: t, FalseAccept: pt.APCER, FalseReject: pt.BPCER})
		}
	}
	if len(ts) > 0 {
		t := math.Nextafter(ts[len(ts)-1], 2)
		pt := p.at(t)
		p.Curve = append(p.Curve, ErrorPoint{Threshold: t, FalseAccept: pt.APCER, FalseReject: pt.BPCER})
	}
	return p
}

// at is the operating point at threshold t.
func (p *PADReport) at(t float64) PADPoint {
	pt := PADPoint{Threshold: t, ByAttack: map[string]float64{}}
	for a, v := range p.AttackScores {
		if len(v) == 0 {
			continue
		}
		r := float64(accepted(v, t)) / float64(len(v))
		pt.ByAttack[a] = r
		pt.APCER = math.Max(pt.APCER, r)
	}
	if n := len(p.BonaFideScores); n > 0 {
		pt.BPCER = float64(rejected(p.BonaFideScores, t)) / float64(n)
	}
	pt.ACER = (pt.APCER + pt.BPCER) / 2
	return pt
}

// Logit is log(p/(1−p)) with p clamped to [1e-6, 1−1e-6].
func Logit(p float64) float64 {
	p = math.Min(math.Max(p, 1e-6), 1-1e-6)
	return math.Log(p / (1 - p))
}
