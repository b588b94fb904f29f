package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// event is one line of `go test -json` (see `go doc cmd/test2json`).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output events
}

// skip is one skipped test and the message it gave.
type skip struct {
	Package, Test, Reason string
}

type testKey struct{ pkg, test string }

// report turns the JSON stream back into plain go test output and collects
// the skipped tests. Its methods are called from one goroutine.
type report struct {
	w          io.Writer
	module     string               // trimmed from package names in the summary
	running    map[testKey][]string // output of tests not yet ended
	pkgTests   map[string][]testKey // tests started per package, to flush on a crash
	skipped    []skip               // in the order they ended
	failedPkgs []string             // go test's FAIL line of each failed package
	anyFail    bool                 // a test, package or build failed
	passed     int                  // tests and subtests that passed
	failedN    int                  // tests and subtests that failed
	wrote      bool                 // something was written since the last flushable
}

func newReport(w io.Writer, module string) *report {
	return &report{
		w: w, module: module,
		running:  map[testKey][]string{},
		pkgTests: map[string][]testKey{},
	}
}

// line handles one line of go test's standard output.
func (r *report) line(b []byte) {
	var e event
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &e) != nil || e.Action == "" {
		// Not an event (go test prints some errors as plain text): pass it on.
		r.print(string(b) + "\n")
		return
	}
	switch {
	case e.Action == "build-output":
		r.print(e.Output)
	case e.Action == "build-fail":
		r.anyFail = true
	case e.Test != "":
		r.testEvent(e)
	default:
		r.packageEvent(e)
	}
}

func (r *report) testEvent(e event) {
	k := testKey{e.Package, e.Test}
	switch e.Action {
	case "run":
		r.running[k] = nil
		r.pkgTests[e.Package] = append(r.pkgTests[e.Package], k)
	case "output":
		r.running[k] = append(r.running[k], e.Output)
	case "pass":
		r.passed++
		delete(r.running, k)
	case "skip":
		r.skipped = append(r.skipped, skip{Package: e.Package, Test: e.Test, Reason: skipReason(r.running[k])})
		delete(r.running, k)
	case "fail":
		r.anyFail = true
		r.failedN++
		r.printFailure(r.running[k])
		delete(r.running, k)
	}
}

func (r *report) packageEvent(e event) {
	switch e.Action {
	case "output":
		out := e.Output
		// Plain go test prints neither a passing binary's PASS nor the
		// warning -run adds to packages without a matching test.
		if out == "PASS\n" || strings.HasPrefix(out, "testing: warning: no tests to run") {
			return
		}
		if strings.HasPrefix(out, "FAIL\t") || strings.HasPrefix(out, "ok  \t") {
			// The result line: first what a killed test left unended.
			r.flushPackage(e.Package)
		}
		if strings.HasPrefix(out, "FAIL\t") {
			r.failedPkgs = append(r.failedPkgs, out)
		}
		r.print(out)
	case "fail":
		r.anyFail = true
		r.flushPackage(e.Package)
	case "pass", "skip":
		r.flushPackage(e.Package)
	}
}

// flushPackage prints what tests of a finished package left unended (a
// panic or a timeout kills the binary mid-test) and forgets them.
func (r *report) flushPackage(pkg string) {
	for _, k := range r.pkgTests[pkg] {
		if out, ok := r.running[k]; ok {
			r.printFailure(out)
			delete(r.running, k)
		}
	}
	delete(r.pkgTests, pkg)
}

// framing matches the lines test2json's -v mode adds around a test.
var framing = regexp.MustCompile(`^\s*=== (RUN|PAUSE|CONT|NAME)\s`)

// printFailure prints a failed test's output as plain go test does: the
// "--- FAIL" line first, then what the test logged.
func (r *report) printFailure(lines []string) {
	var head, body []string
	for _, l := range lines {
		switch {
		case framing.MatchString(l):
		case strings.HasPrefix(strings.TrimLeft(l, " "), "--- FAIL: "):
			head = append(head, l)
		default:
			body = append(body, l)
		}
	}
	for _, l := range append(head, body...) {
		r.print(l)
	}
}

// location is the "file_test.go:12: " prefix the testing package puts
// before a logged message.
var location = regexp.MustCompile(`^[\w.\-]+\.go:\d+: `)

// skipReason returns the message a skipped test gave: the last line it
// logged before its "--- SKIP" line, without the file:line prefix.
func skipReason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || framing.MatchString(lines[i]) || strings.HasPrefix(l, "--- SKIP: ") {
			continue
		}
		return location.ReplaceAllString(l, "")
	}
	return "(no reason given)"
}

func (r *report) print(s string) {
	io.WriteString(r.w, s)
	r.wrote = true
}

// flushable reports whether output was written since the last call, so
// the caller flushes its buffer at line boundaries only when needed.
func (r *report) flushable() bool {
	w := r.wrote
	r.wrote = false
	return w
}

func (r *report) failed() bool { return r.anyFail }

// Summary layout: at most maxReasons groups, each with its test names cut
// to one line of lineWidth characters.
const (
	maxReasons = 12
	lineWidth  = 120
)

// finish prints the skip summary, go test's closing line(s) and, last, the
// counts of tests and subtests as "tests: N passed, N failed, N skipped".
func (r *report) finish(failed bool) {
	r.printSummary()
	defer func() {
		fmt.Fprintf(r.w, "tests: %d passed, %d failed, %d skipped\n", r.passed, r.failedN, len(r.skipped))
		r.wrote = true
	}()
	if failed || r.anyFail {
		// Plain go test ./... ends a failed run with its FAIL lines and FAIL.
		r.print("\n")
		for _, l := range r.failedPkgs {
			r.print(l)
		}
		r.print("FAIL\n")
		return
	}
	r.print("PASS\n")
}

func (r *report) printSummary() {
	var b bytes.Buffer
	defer func() { r.print(b.String()) }()
	if len(r.skipped) == 0 {
		b.WriteString("\nskipped: none\n")
		return
	}
	type group struct {
		reason string
		tests  []skip
	}
	byReason := map[string]*group{}
	var groups []*group
	for _, s := range r.skipped {
		g := byReason[s.Reason]
		if g == nil {
			g = &group{reason: s.Reason}
			byReason[s.Reason] = g
			groups = append(groups, g)
		}
		g.tests = append(g.tests, s)
	}
	slices.SortStableFunc(groups, func(a, b *group) int { return cmp.Compare(len(b.tests), len(a.tests)) })
	plural := "s"
	if len(r.skipped) == 1 {
		plural = ""
	}
	fmt.Fprintf(&b, "\nskipped: %d test%s, by reason (`go test -v -run NAME PKG` shows one):\n", len(r.skipped), plural)
	for i, g := range groups {
		if i == maxReasons {
			rest := 0
			for _, g := range groups[i:] {
				rest += len(g.tests)
			}
			fmt.Fprintf(&b, "  … %d more tests for %d other reasons\n", rest, len(groups)-i)
			break
		}
		fmt.Fprintf(&b, "%4d  %s\n", len(g.tests), g.reason)
		b.WriteString("      " + r.names(g.tests, lineWidth-6) + "\n")
	}
}

// names lists tests as "pkg: TestA TestB; pkg2: TestC", cut to width.
func (r *report) names(tests []skip, width int) string {
	var parts []string
	for i, s := range tests {
		pkg := strings.TrimPrefix(strings.TrimPrefix(s.Package, r.module), "/")
		if pkg == "" {
			pkg = "."
		}
		if i > 0 && tests[i-1].Package == s.Package {
			parts[len(parts)-1] += " " + s.Test
			continue
		}
		parts = append(parts, pkg+": "+s.Test)
	}
	line := strings.Join(parts, "; ")
	if len(line) <= width {
		return line
	}
	// Cut at a space and say how many names were left out.
	cut := strings.LastIndex(line[:width-12], " ")
	if cut < 0 {
		cut = width - 12
	}
	// Do not end on a package label ("…; pkg:") with none of its tests.
	if i := strings.LastIndex(line[:cut], "; "); i >= 0 && !strings.Contains(line[i+2:cut], ": ") {
		cut = i + 1
	} else if !strings.Contains(line[:cut], ": ") {
		cut = 0
	}
	return line[:cut] + fmt.Sprintf(" … (+%d)", len(tests)-countNames(line[:cut]))
}

// countNames counts the test names in a names line: the words that are
// not package labels ("pkg:").
func countNames(line string) int {
	n := 0
	for _, f := range strings.Fields(line) {
		if !strings.HasSuffix(f, ":") {
			n++
		}
	}
	return n
}
