package main

import (
	"math"
	"strings"
	"testing"
)

func TestPercentile(t *testing.T) {
	ten := []float64{10, 1, 9, 2, 8, 3, 7, 4, 6, 5}
	for _, tc := range []struct {
		name string
		xs   []float64
		q    float64
		want float64
	}{
		{"p50 of 10 is the 5th", ten, 0.5, 5},
		{"p90 of 10 is the 9th", ten, 0.9, 9},
		{"p100 is the max", ten, 1, 10},
		{"one value", []float64{42}, 0.9, 42},
		{"p50 of 3 is the 2nd", []float64{3, 1, 2}, 0.5, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.xs, tc.q); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.xs, tc.q, got, tc.want)
			}
		})
	}
	if got := percentile(nil, 0.5); !math.IsNaN(got) {
		t.Errorf("percentile(nil) = %v, want NaN", got)
	}
	if ten[0] != 10 {
		t.Error("percentile sorted its input in place")
	}
}

// marks of one verification: two analyses, one upload, a status call.
var oneRound = []agentMark{
	{"command", 0, 0}, {"capture_start", 0.1, 0}, {"camera_open", 2, 0}, {"first_frame", 5, 1},
	{"analysis_start", 5.5, 1}, {"analysis_end", 55.5, 1},
	{"analysis_start", 105, 2}, {"analysis_end", 165, 2},
	{"capture_done", 166, 0}, {"upload_sent", 190, 0}, {"upload_acked", 250, 0},
	{"status_sent", 251, 0}, {"status_answered", 460, 0}, {"exit", 461, 0},
}

func TestReduce(t *testing.T) {
	got := reduce(oneRound)
	if got.Analyses != 2 || got.AnalysisMS != 110 {
		t.Errorf("analyses %d in %.1f ms, want 2 in 110 ms", got.Analyses, got.AnalysisMS)
	}
	for phase, want := range map[string]float64{"first_frame": 5, "analysis_start": 5.5, "analysis_end": 55.5, "status_answered": 460, "exit": 461} {
		if got.Phases[phase] != want {
			t.Errorf("phase %s at %v, want %v", phase, got.Phases[phase], want)
		}
	}
	// A RETRY: the second round's marks do not move the first's, the
	// final answer is the last status answer.
	retry := append(append([]agentMark(nil), oneRound[:len(oneRound)-1]...),
		agentMark{"capture_start", 470, 0}, agentMark{"analysis_start", 471, 7}, agentMark{"analysis_end", 521, 7},
		agentMark{"status_answered", 900, 0}, agentMark{"exit", 901, 0})
	got = reduce(retry)
	if got.Phases["capture_start"] != 0.1 || got.Phases["status_answered"] != 900 || got.Phases["exit"] != 901 || got.Analyses != 3 || got.AnalysisMS != 160 {
		t.Errorf("with a retry: %+v", got)
	}
}

func TestSummarize(t *testing.T) {
	tm := reduce(oneRound)
	tm.Gateway = map[string]float64{"selfie": 80, "total": 200}
	tm.Load1 = 3.5
	rs := []result{
		{Scenario: "warm-up", ExitMS: 9999},
		{Scenario: "genuine", ExitMS: 461, Timing: &tm},
		{Scenario: "genuine", ExitMS: 300},
		{Scenario: "impostor", ExitMS: 500},
	}
	var b strings.Builder
	summarize(&b, rs)
	out := b.String()
	for _, want := range []string{
		"genuine: n=2 command → EXIT p50 300 ms, p90 461 ms (min 300, max 461); load average (1 min) 3.5–3.5",
		"impostor: n=1 command → EXIT p50 500 ms",
		"| genuine (n=1) | p50 ms | p90 ms |",
		"| crop + JPEG encode | 24.0 | 24.0 |",
		"| status long poll (gateway decides) | 209.0 | 209.0 |",
		"| analyses per verification | 2 | 2 |",
		"| gateway selfie | 80.0 | 80.0 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "9999") {
		t.Errorf("summary counts the warm-up:\n%s", out)
	}
}

func TestStageDiff(t *testing.T) {
	got := stageDiff(map[string]float64{"selfie": 1.0, "total": 2}, map[string]float64{"selfie": 1.0801, "total": 2.2, "decode": 0.004})
	want := map[string]float64{"selfie": 80.1, "total": 200, "decode": 4}
	if len(got) != len(want) {
		t.Fatalf("stageDiff = %v, want %v (unchanged stages left out)", got, want)
	}
	for k, v := range want {
		if math.Abs(got[k]-v) > 1e-9 {
			t.Errorf("stage %s: %v ms, want %v", k, got[k], v)
		}
	}
}

func TestTimelineLine(t *testing.T) {
	got := timelineLine("genuine", oneRound[:5])
	want := "timeline genuine: command 0.0 · capture_start 0.1 · camera_open 2.0 · first_frame#1 5.0 · analysis_start#1 5.5"
	if got != want {
		t.Errorf("timelineLine = %q, want %q", got, want)
	}
}
