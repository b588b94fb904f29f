package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Latency measurement (-repeat, -timeline): the agent's own timeline of
// each verification (GET /v1/session/timeline, phase marks on the agent's
// clock in ms since the command) and the gateway's processing stages
// (the growth of faceverify_gateway_processing_duration_seconds_sum per
// stage across the verification), summarised as p50/p90 per scenario.

// agentMark and agentTimeline mirror the agent's Timeline JSON
// (agent/openapi.json), so the demo links no agent package.
type agentMark struct {
	Phase string  `json:"phase"`
	AtMS  float64 `json:"at_ms"`
	Seq   uint64  `json:"seq,omitempty"`
}

type agentTimeline struct {
	SessionID string      `json:"session_id"`
	Marks     []agentMark `json:"marks"`
}

// timing is one verification's phases, as printed in its result line.
type timing struct {
	// Phases are the first time (ms since the command) of each phase;
	// status_answered and exit are the last. Analyses count analysis_start
	// marks; AnalysisMS sums their durations.
	Phases     map[string]float64 `json:"phases,omitempty"`
	Analyses   int                `json:"analyses,omitempty"`
	AnalysisMS float64            `json:"analysis_ms,omitempty"`
	// Gateway is each processing stage's time for this verification, ms.
	Gateway map[string]float64 `json:"gateway_ms,omitempty"`
	// Load1 is the 1-minute load average when the verification ended.
	Load1 float64 `json:"load1"`
}

// lastPhases are reported at their last mark (the final answer), the
// others at their first.
var lastPhases = map[string]bool{"status_answered": true, "exit": true}

// reduce turns the agent's marks into a timing (without Gateway and Load1).
func reduce(marks []agentMark) timing {
	t := timing{Phases: map[string]float64{}}
	var began float64
	for i, m := range marks {
		if _, seen := t.Phases[m.Phase]; !seen || lastPhases[m.Phase] {
			t.Phases[m.Phase] = m.AtMS
		}
		switch m.Phase {
		case "analysis_start":
			t.Analyses++
			began = m.AtMS
		case "analysis_end":
			if i > 0 && marks[i-1].Seq == m.Seq {
				t.AnalysisMS += m.AtMS - began
			}
		}
	}
	return t
}

// steps are the durations the summary shows: a name, and the two phases
// it spans (from, to).
var steps = []struct{ name, from, to string }{
	{"camera open", "capture_start", "camera_open"},
	{"first frame", "capture_start", "first_frame"},
	{"first analysis starts", "first_frame", "analysis_start"},
	{"capture round (analyses, frame waits)", "capture_start", "capture_done"},
	{"crop + JPEG encode", "capture_done", "upload_sent"},
	{"upload (HTTP, gateway accepts)", "upload_sent", "upload_acked"},
	{"ack → status call", "upload_acked", "status_sent"},
	{"status long poll (gateway decides)", "status_sent", "status_answered"},
	{"answer → EXIT", "status_answered", "exit"},
	{"command → EXIT", "command", "exit"},
}

// gatewayStages are the processing stages the summary shows, in the
// gateway's order (gateway/process.go).
var gatewayStages = []string{"decode", "selfie", "selfie_extra", "replay", "reference_fetch", "reference", "reference_ready", "total"}

// percentile is the nearest-rank q-quantile (0<q≤1) of xs: the smallest
// value with at least q·n values at or below it; NaN for none.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	k := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}

// summarize writes, per scenario, command → EXIT p50/p90 (the agent's
// elapsed_ms) and, for timed results, the median and p90 of every step and
// gateway stage, as Markdown tables.
func summarize(w io.Writer, rs []result) {
	var order []string
	by := map[string][]result{}
	for _, r := range rs {
		if r.Scenario == warmup.Name {
			continue
		}
		if _, ok := by[r.Scenario]; !ok {
			order = append(order, r.Scenario)
		}
		by[r.Scenario] = append(by[r.Scenario], r)
	}
	for _, name := range order {
		rs := by[name]
		var exit, load []float64
		for _, r := range rs {
			exit = append(exit, float64(r.ExitMS))
			if r.Timing != nil {
				load = append(load, r.Timing.Load1)
			}
		}
		fmt.Fprintf(w, "\n%s: n=%d command → EXIT p50 %.0f ms, p90 %.0f ms (min %.0f, max %.0f)", name, len(rs),
			percentile(exit, 0.5), percentile(exit, 0.9), slices.Min(exit), slices.Max(exit))
		if len(load) > 0 {
			fmt.Fprintf(w, "; load average (1 min) %.1f–%.1f", slices.Min(load), slices.Max(load))
		}
		fmt.Fprintln(w)
		var timed []*timing
		for _, r := range rs {
			if r.Timing != nil && len(r.Timing.Phases) > 0 {
				timed = append(timed, r.Timing)
			}
		}
		if len(timed) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n| %s (n=%d) | p50 ms | p90 ms |\n|---|---|---|\n", name, len(timed))
		row := func(label string, xs []float64) {
			if len(xs) > 0 {
				fmt.Fprintf(w, "| %s | %.1f | %.1f |\n", label, percentile(xs, 0.5), percentile(xs, 0.9))
			}
		}
		for _, st := range steps {
			var xs []float64
			for _, t := range timed {
				a, okA := t.Phases[st.from]
				b, okB := t.Phases[st.to]
				if okA && okB {
					xs = append(xs, b-a)
				}
			}
			row(st.name, xs)
		}
		var n, an []float64
		for _, t := range timed {
			n = append(n, float64(t.Analyses))
			an = append(an, t.AnalysisMS)
		}
		fmt.Fprintf(w, "| analyses per verification | %.0f | %.0f |\n", percentile(n, 0.5), percentile(n, 0.9))
		row("time in analyses", an)
		for _, st := range gatewayStages {
			var xs []float64
			for _, t := range timed {
				if v, ok := t.Gateway[st]; ok {
					xs = append(xs, v)
				}
			}
			row("gateway "+st, xs)
		}
	}
}

// timelineLine renders one verification's marks on one line, e.g.
// "timeline genuine: command 0 · capture_start 0.1 · … · exit 412.3".
func timelineLine(name string, marks []agentMark) string {
	var b strings.Builder
	fmt.Fprintf(&b, "timeline %s:", name)
	for i, m := range marks {
		if i > 0 {
			b.WriteString(" ·")
		}
		fmt.Fprintf(&b, " %s", m.Phase)
		if m.Seq != 0 {
			fmt.Fprintf(&b, "#%d", m.Seq)
		}
		fmt.Fprintf(&b, " %.1f", m.AtMS)
	}
	return b.String()
}

// gatewayStageSums reads the gateway's processing time per stage so far
// (seconds), from its /metrics.
func gatewayStageSums(ctx context.Context, gatewayURL string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gatewayURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("gateway metrics: %w", err)
	}
	out := map[string]float64{}
	if f := fams["faceverify_gateway_processing_duration_seconds"]; f != nil {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "stage" {
					out[l.GetValue()] = m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	return out, nil
}

// stageDiff is each stage's growth from before to after, in ms.
func stageDiff(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = math.Round(d*1e4) / 10
		}
	}
	return out
}

// loadAverage1 is the 1-minute load average (/proc/loadavg), or NaN where
// there is none.
func loadAverage1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return math.NaN()
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(f, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// errNoTimeline marks an agent that serves no timeline (an older build
// run with -bin): the result keeps its exit_ms only.
var errNoTimeline = errors.New("agent serves no timeline")

// fetchTimeline reads the agent's timeline of session sid.
func fetchTimeline(ctx context.Context, agentURL, sid string) ([]agentMark, error) {
	var tl agentTimeline
	if err := getJSON(ctx, agentURL+"/v1/session/timeline", &tl); err != nil {
		if strings.Contains(err.Error(), "404") {
			return nil, fmt.Errorf("%w: %v", errNoTimeline, err)
		}
		return nil, err
	}
	if tl.SessionID != sid {
		return nil, fmt.Errorf("timeline of session %q, want %q", tl.SessionID, sid)
	}
	return tl.Marks, nil
}
