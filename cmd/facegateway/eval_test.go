package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/gateway/eval"
)

func TestEvalUsage(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want int
		msg  string
	}{
		{"no set", nil, 2, "need one set directory"},
		{"two sets", []string{"a", "b"}, 2, "need one set directory"},
		{"unknown flag", []string{"--nope", "a"}, 2, "not defined: -nope"},
		{"no labels", []string{empty}, 2, "no labelled images"},
		{"help", []string{"-h"}, 0, "usage: facegateway eval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := evalMain(context.Background(), tc.args, &out, &errb); got != tc.want {
				t.Errorf("exit %d, want %d; stderr %s", got, tc.want, errb.String())
			}
			if !strings.Contains(errb.String(), tc.msg) {
				t.Errorf("stderr %q lacks %q", errb.String(), tc.msg)
			}
		})
	}
}

// TestEvalGuard checks the exit status and files of writeEval: the guard
// trips on one wrong decision and not on failures to acquire.
func TestEvalGuard(t *testing.T) {
	clean := &eval.Report{Match: eval.MatchReport{FMR: eval.NewRate(0, 40), FNMR: eval.NewRate(0, 9), FTA: eval.NewRate(3, 55)}}
	wrong := &eval.Report{Match: eval.MatchReport{FMR: eval.NewRate(1, 40), FNMR: eval.NewRate(0, 9)}}
	for _, tc := range []struct {
		name  string
		rep   *eval.Report
		guard bool
		want  int
	}{
		{"clean, guard", clean, true, 0},
		{"one false match, guard", wrong, true, 1},
		{"one false match, no guard", wrong, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			got := writeEval([]eval.Named{{Name: "defaults", Report: tc.rep}}, out, false, tc.guard, &stdout, &stderr)
			if got != tc.want {
				t.Fatalf("exit %d, want %d; stderr %s", got, tc.want, stderr.String())
			}
			for _, f := range []string{"report.md", "report.json", "det_match.png", "det_liveness.png", "hist_match.png", "hist_liveness.png"} {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Errorf("%s not written: %v", f, err)
				}
			}
			if !strings.Contains(stdout.String(), "# faceverify evaluation") {
				t.Errorf("no Markdown report on stdout")
			}
		})
	}
}
