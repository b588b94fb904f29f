package eval

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Named is a report with the name of the configuration that produced it
// (the config file, or "defaults").
type Named struct {
	Name   string  `json:"name"`
	Report *Report `json:"report"`
}

// WriteMarkdown writes the report of one or more configurations on the same
// set: with two or more, a side-by-side table of the key numbers first,
// then each configuration's full report.
func WriteMarkdown(w io.Writer, reps []Named) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "# faceverify evaluation\n\n")
	if len(reps) == 0 {
		_, err := io.WriteString(w, b.String())
		return err
	}
	r0 := reps[0].Report
	fmt.Fprintf(b, "Set `%s`, pairs from %s. Every image went through the gateway's decision path "+
		"(decode, detection, quality, liveness, alignment, embedding, thresholds). Rates are errors/trials; "+
		"the 95 %% upper bound is 3/N (rule of three) when no error was observed, Clopper–Pearson otherwise.\n\n",
		r0.Set, r0.PairsFrom)
	if len(reps) > 1 {
		compareTable(b, reps)
	}
	for _, n := range reps {
		if len(reps) > 1 {
			fmt.Fprintf(b, "\n---\n\n# Configuration: %s\n\n", n.Name)
		}
		writeOne(b, n.Report)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func compareTable(b *strings.Builder, reps []Named) {
	b.WriteString("## Side by side\n\n| | ")
	for _, n := range reps {
		fmt.Fprintf(b, "%s | ", n.Name)
	}
	b.WriteString("\n|---|")
	for range reps {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	row := func(name string, f func(r *Report) string) {
		fmt.Fprintf(b, "| %s | ", name)
		for _, n := range reps {
			fmt.Fprintf(b, "%s | ", f(n.Report))
		}
		b.WriteString("\n")
	}
	row("embedder", func(r *Report) string { return r.Embedder })
	row("match threshold (cosine)", func(r *Report) string { return f3(r.Thresholds.Match) })
	row("liveness threshold (probability live)", func(r *Report) string { return f3(r.Thresholds.Liveness) })
	row("FMR", func(r *Report) string { return rateCell(r.Match.FMR) })
	row("FNMR", func(r *Report) string { return rateCell(r.Match.FNMR) })
	row("pairs not compared (FTA)", func(r *Report) string { return rateCell(r.Match.FTA) })
	row("matching EER", func(r *Report) string { return eerCell(r.Match.EER) })
	row("genuine similarity min–max", func(r *Report) string { return rangeCell(r.Match.Genuine) })
	row("impostor similarity min–max", func(r *Report) string { return rangeCell(r.Match.Impostor) })
	row("BPCER", func(r *Report) string { return rateCell(r.Liveness.BPCER) })
	for i, a := range reps[0].Report.Liveness.APCER {
		row("APCER "+a.Attack, func(r *Report) string {
			if i < len(r.Liveness.APCER) {
				return rateCell(r.Liveness.APCER[i].APCER)
			}
			return "—"
		})
	}
	row("ACER", func(r *Report) string { return f3(r.Liveness.ACER) })
	row("bona fide probability min–max", func(r *Report) string { return rangeCell(r.Liveness.BonaFide) })
	row("attack probability min–max", func(r *Report) string { return rangeCell(r.Liveness.Attacks) })
	row("liveness margin (probability / logit)", func(r *Report) string { return marginCell(r.Liveness) })
	row("liveness ms per analysed frame (whole analysis ms)", func(r *Report) string {
		return fmt.Sprintf("%s (%s)", f1(r.Liveness.LivenessMS), f1(r.Liveness.TotalMS))
	})
	if reps[0].Report.Jitter != nil {
		row("±10 % crop jitter: worst-case margin (probability / logit)", func(r *Report) string { return jitterMarginCell(r.Jitter) })
		row("±10 % crop jitter: mean per-sample SD of the logit", func(r *Report) string {
			if r.Jitter == nil {
				return "—"
			}
			return f3(r.Jitter.MeanSDLogit)
		})
		row("±10 % crop jitter: largest per-sample range (probability)", func(r *Report) string {
			if r.Jitter == nil {
				return "—"
			}
			return f3(r.Jitter.MaxRange)
		})
		row("±10 % crop jitter: wrong decisions", func(r *Report) string {
			if r.Jitter == nil {
				return "—"
			}
			return fmt.Sprintf("%d/%d", r.Jitter.Errors, r.Jitter.N)
		})
	}
	row("errors at the configured thresholds", func(r *Report) string { return fmt.Sprint(r.Errors()) })
}

func writeOne(b *strings.Builder, r *Report) {
	m := r.Match
	fmt.Fprintf(b, "## 1:1 matching (ISO/IEC 19795-1)\n\n")
	fmt.Fprintf(b, "Threshold: cosine similarity ≥ %s is a match (embedder %s). The first file of a pair is analysed as a kiosk capture "+
		"(quality gates of a selfie, no liveness), the second as the partner's reference.\n\n", f3(m.Threshold), r.Embedder)
	b.WriteString("| | genuine (same person) | impostor (different persons) |\n|---|---|---|\n")
	fmt.Fprintf(b, "| comparisons | %d | %d |\n", m.Genuine.N, m.Impostor.N)
	fmt.Fprintf(b, "| similarity min–max | %s | %s |\n", rangeCell(m.Genuine), rangeCell(m.Impostor))
	fmt.Fprintf(b, "| mean ± sd | %s | %s |\n\n", meanCell(m.Genuine), meanCell(m.Impostor))
	fmt.Fprintf(b, "| at threshold %s | errors/trials | rate | 95 %% upper bound |\n|---|---|---|---|\n", f3(m.Threshold))
	rateRow(b, "FMR (impostor matched)", m.FMR)
	rateRow(b, "FNMR (genuine not matched)", m.FNMR)
	rateRow(b, "pairs not compared (failure to acquire)", m.FTA)
	fmt.Fprintf(b, "\nEER: %s.\n", eerText(m.EER))
	for _, a := range m.AtFMR {
		if a.Measured {
			fmt.Fprintf(b, "FNMR at FMR = %g: %s (threshold %s).\n", a.Target, rateCell(a.FalseReject), f4(a.Threshold))
		} else {
			fmt.Fprintf(b, "FNMR at FMR = %g: not measurable, it needs ≥ %d impostor comparisons (the set has %d).\n",
				a.Target, a.Needed, m.Impostor.N)
		}
	}
	b.WriteString("\n| threshold | FMR | FNMR |\n|---|---|---|\n")
	for _, p := range m.Sweep {
		if onGrid(p.Threshold, 0.1) || p.Threshold == m.Threshold {
			fmt.Fprintf(b, "| %s | %s | %s |\n", f2(p.Threshold), f3(p.FalseAccept), f3(p.FalseReject))
		}
	}
	var notCompared, wrong []PairResult
	for _, p := range r.Pairs {
		switch {
		case p.Similarity == nil:
			notCompared = append(notCompared, p)
		case p.Match != p.Same:
			wrong = append(wrong, p)
		}
	}
	if len(wrong) > 0 {
		b.WriteString("\nWrong decisions:\n\n| probe | reference | same | similarity |\n|---|---|---|---|\n")
		for _, p := range wrong {
			fmt.Fprintf(b, "| %s | %s | %v | %s |\n", p.Probe, p.Reference, p.Same, f4(*p.Similarity))
		}
	}
	if len(notCompared) > 0 {
		b.WriteString("\nPairs not compared:\n\n| probe | reference | same | unusable |\n|---|---|---|---|\n")
		for _, p := range notCompared {
			fmt.Fprintf(b, "| %s | %s | %v | %s |\n", p.Probe, p.Reference, p.Same, p.Unusable)
		}
	}

	l := r.Liveness
	fmt.Fprintf(b, "\n## Passive liveness (ISO/IEC 30107-3)\n\n")
	fmt.Fprintf(b, "Threshold: probability live ≥ %s is bona fide. Counted: bona fide captures and real RGB attacks; "+
		"synthetic attacks and near-infrared frames are scored below but never counted.\n\n", f3(l.Threshold))
	b.WriteString("| | bona fide | attacks |\n|---|---|---|\n")
	fmt.Fprintf(b, "| presentations | %d | %d |\n", l.BonaFide.N, l.Attacks.N)
	fmt.Fprintf(b, "| probability live min–max | %s | %s |\n\n", rangeCell(l.BonaFide), rangeCell(l.Attacks))
	fmt.Fprintf(b, "| at threshold %s | errors/trials | rate | 95 %% upper bound |\n|---|---|---|---|\n", f3(l.Threshold))
	rateRow(b, "BPCER (bona fide rejected)", l.BPCER)
	for _, a := range l.APCER {
		rateRow(b, "APCER "+a.Attack+" (attack accepted)", a.APCER)
	}
	fmt.Fprintf(b, "\nACER (worst APCER + BPCER)/2: %s. EER: %s. Margin (lowest bona fide − highest attack): %s.\n",
		f3(l.ACER), eerText(l.EER), marginCell(l))
	b.WriteString("\n| threshold | BPCER |")
	for _, a := range l.APCER {
		fmt.Fprintf(b, " APCER %s |", a.Attack)
	}
	b.WriteString(" ACER |\n|---|---|")
	for range l.APCER {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	for _, p := range l.Sweep {
		if !onGrid(p.Threshold, 0.1) && p.Threshold != l.Threshold {
			continue
		}
		fmt.Fprintf(b, "| %s | %s |", f2(p.Threshold), f3(p.BPCER))
		for _, a := range l.APCER {
			if v, ok := p.ByAttack[a.Attack]; ok {
				fmt.Fprintf(b, " %s |", f3(v))
			} else {
				b.WriteString(" — |")
			}
		}
		fmt.Fprintf(b, " %s |\n", f3(p.ACER))
	}
	b.WriteString("\n| sample | label | attack | decision | probability live | counted |\n|---|---|---|---|---|---|\n")
	for _, s := range r.Samples {
		if s.Role != RoleSelfie {
			continue
		}
		counted := "yes"
		switch {
		case s.Live == LabelSynthetic:
			counted = "no (synthetic)"
		case s.NIR:
			counted = "no (near-infrared)"
		case s.Liveness == nil:
			counted = "no (no face scored)"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", s.File, s.Live, dash(s.Attack), s.Decision, optF3(s.Liveness), counted)
	}

	fmt.Fprintf(b, "\nTime per analysed selfie (mean): liveness %s ms, whole analysis %s ms.\n", f1(l.LivenessMS), f1(l.TotalMS))
	if j := r.Jitter; j != nil {
		fmt.Fprintf(b, "\n### Liveness under ±10 %% crop jitter\n\n")
		fmt.Fprintf(b, "Each counted sample scored with its face box scaled by 0.9, 1 and 1.1 and shifted by ±10 %% "+
			"sideways and up/down (%d crops). Worst-case margin (lowest bona fide − highest attack over all crops): %s; "+
			"mean per-sample SD of the logit %s; largest per-sample range %s; wrong decisions %d/%d; liveness %s ms per frame.\n\n",
			len(j.Jitters), jitterMarginCell(j), f3(j.MeanSDLogit), f3(j.MaxRange), j.Errors, j.N, f1(j.LivenessMS))
		b.WriteString("| sample | label | min | max | SD of logit |\n|---|---|---|---|---|\n")
		for _, s := range j.Samples {
			label := s.Live
			if s.Attack != "" {
				label += " " + s.Attack
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", s.File, label, f4(s.Min), f4(s.Max), f3(s.SDLogit))
		}
	}
	b.WriteString("\n## Images in the matching part\n\n| file | role | decision | face px |\n|---|---|---|---|\n")
	for _, s := range r.Samples {
		if s.Role == RoleSelfie {
			continue
		}
		d := string(s.Decision)
		if s.Error != "" {
			d += " (" + s.Error + ")"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", s.File, s.Role, d, f1(s.FaceSize))
	}
}

// onGrid reports whether t is a multiple of step (to 1e-9).
func onGrid(t, step float64) bool {
	q := t / step
	return math.Abs(q-math.Round(q)) < 1e-9
}

func rateRow(b *strings.Builder, name string, r Rate) {
	fmt.Fprintf(b, "| %s | %d/%d | %s | %s |\n", name, r.Errors, r.N, rateValue(r), upperText(r))
}

func rateValue(r Rate) string {
	if r.N == 0 {
		return "—"
	}
	return f4(r.Value)
}

func upperText(r Rate) string {
	switch {
	case r.N == 0:
		return "not measured"
	case r.Errors == 0:
		return fmt.Sprintf("≤ %s (3/N)", f4(r.Upper95))
	default:
		return fmt.Sprintf("≤ %s (Clopper–Pearson)", f4(r.Upper95))
	}
}

func rateCell(r Rate) string {
	if r.N == 0 {
		return "— (0 trials)"
	}
	return fmt.Sprintf("%d/%d = %s (≤ %s)", r.Errors, r.N, f4(r.Value), f4(r.Upper95))
}

func eerCell(e EER) string {
	if !e.Measured {
		return "—"
	}
	if e.Separable {
		return fmt.Sprintf("0 (gap %s–%s)", f4(e.Lo), f4(e.Hi))
	}
	return fmt.Sprintf("%s at %s", f4(e.Rate), f4(e.Threshold))
}

func eerText(e EER) string {
	switch {
	case !e.Measured:
		return "not measured (a class is empty)"
	case e.Separable:
		return fmt.Sprintf("0: the classes are separated, every threshold from %s to %s makes no error on this set", f4(e.Lo), f4(e.Hi))
	default:
		return fmt.Sprintf("%s at threshold %s", f4(e.Rate), f4(e.Threshold))
	}
}

func rangeCell(s Summary) string {
	if s.N == 0 {
		return "—"
	}
	return f3(s.Min) + " – " + f3(s.Max)
}

func meanCell(s Summary) string {
	if s.N == 0 {
		return "—"
	}
	return f3(s.Mean) + " ± " + f3(s.SD)
}

func marginCell(p PADReport) string {
	if p.Margin == nil {
		return "—"
	}
	return fmt.Sprintf("%s / %s", f3(*p.Margin), f2(*p.LogitMargin))
}

func jitterMarginCell(j *JitterReport) string {
	if j == nil || j.Margin == nil {
		return "—"
	}
	return fmt.Sprintf("%s / %s", f3(*j.Margin), f2(*j.LogitMargin))
}

func optF3(v *float64) string {
	if v == nil {
		return "—"
	}
	return f4(*v)
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func f1(v float64) string { return trim(fmt.Sprintf("%.1f", v)) }
func f2(v float64) string { return trim(fmt.Sprintf("%.2f", v)) }
func f3(v float64) string { return trim(fmt.Sprintf("%.3f", v)) }
func f4(v float64) string { return trim(fmt.Sprintf("%.4f", v)) }

// trim drops trailing zeros ("0.3500" → "0.35") and a negative zero.
func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}
