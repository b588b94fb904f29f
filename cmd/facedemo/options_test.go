package main

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsScenarios(t *testing.T) {
	for _, tc := range []struct {
		only    []string
		want    []string
		wantErr string
	}{
		{nil, []string{"genuine", "impostor", "presentation attack"}, ""},
		{[]string{"genuine"}, []string{"genuine"}, ""},
		{[]string{"presentation attack", "genuine"}, []string{"presentation attack", "genuine"}, ""},
		{[]string{"genuine", "nobody"}, nil, `unknown scenario "nobody"`},
	} {
		got, err := options{Only: tc.only}.scenarios()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Only %q: error %v, want %q", tc.only, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Only %q: %v", tc.only, err)
		}
		var names []string
		for _, sc := range got {
			names = append(names, sc.Name)
		}
		if strings.Join(names, ",") != strings.Join(tc.want, ",") {
			t.Errorf("Only %q: scenarios %q, want %q", tc.only, names, tc.want)
		}
	}
}

func TestOptionsWindow(t *testing.T) {
	if got := (options{}).tune(agentTOML); !strings.Contains(got, "\nwindow = \"2s\"\n") {
		t.Fatalf("default window changed:\n%s", got)
	}
	got := options{Window: time.Minute}.tune(agentTOML)
	if !strings.Contains(got, "\nwindow = \"1m0s\"\n") || strings.Contains(got, "\"2s\"") {
		t.Fatalf("Window 1m not applied:\n%s", got)
	}
}
