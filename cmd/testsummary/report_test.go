package main

import (
	"bufio"
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestReportMixed replays a recorded `go test -json` stream (a build
// failure, a panic, a pass, a fail, a skip, a test killed by a timeout with
// a skipped subtest, a plain-text line) and checks the plain go test
// output, the summary and the closing lines.
func TestReportMixed(t *testing.T) {
	f, err := os.Open("testdata/mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	r := newReport(&out, "x")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		r.line(sc.Bytes())
	}
	if !r.failed() {
		t.Error("failed() = false after failing tests")
	}
	r.finish(true)
	want := `# x/d [x/d.test]
d/d_test.go:3:32: undefined: undefinedThing
FAIL	x/d [build failed]
--- FAIL: TestPanic (0.00s)
    c_test.go:3: before
panic: kaboom [recovered, repanicked]

FAIL	x/c	0.012s
ok  	x/b	0.013s
--- FAIL: TestFail (0.00s)
    a_test.go:3: hello
    a_test.go:3: boom
FAIL
FAIL	x/a	0.057s
panic: test timed out after 1s
FAIL	x/e	1.004s
not json: printed by go test as plain text

skipped: 2 tests, by reason (` + "`go test -v -run NAME PKG`" + ` shows one):
   1  no server
      a: TestSkip
   1  skipping: FACEVERIFY_X unset
      e: TestHang/sub

FAIL	x/d [build failed]
FAIL	x/c	0.012s
FAIL	x/a	0.057s
FAIL	x/e	1.004s
FAIL
tests: 2 passed, 2 failed, 2 skipped
`
	if got := out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

// TestReportPass: a green run ends with the summary, PASS and the counts,
// and a passing test's output is not shown.
func TestReportPass(t *testing.T) {
	var out bytes.Buffer
	r := newReport(&out, "example.com/m")
	for _, l := range []string{
		`{"Action":"run","Package":"example.com/m/p","Test":"TestA"}`,
		`{"Action":"output","Package":"example.com/m/p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"example.com/m/p","Test":"TestA","Output":"chatter\n"}`,
		`{"Action":"pass","Package":"example.com/m/p","Test":"TestA"}`,
		`{"Action":"output","Package":"example.com/m/p","Output":"PASS\n"}`,
		`{"Action":"output","Package":"example.com/m/p","Output":"ok  \texample.com/m/p\t0.1s\n"}`,
		`{"Action":"pass","Package":"example.com/m/p"}`,
		`{"Action":"output","Package":"example.com/m/q","Output":"?   \texample.com/m/q\t[no test files]\n"}`,
		`{"Action":"skip","Package":"example.com/m/q"}`,
	} {
		r.line([]byte(l))
	}
	if r.failed() {
		t.Error("failed() = true on a green run")
	}
	r.finish(false)
	want := "ok  \texample.com/m/p\t0.1s\n?   \texample.com/m/q\t[no test files]\n\nskipped: none\nPASS\ntests: 1 passed, 0 failed, 0 skipped\n"
	if got := out.String(); got != want {
		t.Errorf("output:\n%q\nwant:\n%q", got, want)
	}
}

func TestSkipReason(t *testing.T) {
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{[]string{"=== RUN   TestX\n", "    x_test.go:12: PostgreSQL tests need a server\n", "--- SKIP: TestX (0.00s)\n"}, "PostgreSQL tests need a server"},
		{[]string{"=== RUN   TestX\n", "    x_test.go:3: log first\n", "    helpers_test.go:29: then skip\n", "--- SKIP: TestX (0.00s)\n"}, "then skip"},
		{[]string{"=== RUN   TestX\n", "--- SKIP: TestX (0.00s)\n"}, "(no reason given)"},
		{[]string{"=== NAME  TestX\n", "    main_test.go:18: a: b: c\n", "--- SKIP: TestX (0.00s)\n"}, "a: b: c"},
	} {
		if got := skipReason(tc.lines); got != tc.want {
			t.Errorf("skipReason(%q) = %q, want %q", tc.lines, got, tc.want)
		}
	}
}

// TestSummaryFitsOneScreen: many skips for many reasons stay within
// maxReasons groups of two lines, each line cut to lineWidth.
func TestSummaryFitsOneScreen(t *testing.T) {
	var out bytes.Buffer
	r := newReport(&out, "m")
	for i := range 200 {
		pkg := "m/pkg" + string(rune('a'+i%20))
		test := "TestSomethingLong" + strings.Repeat("x", i%7) + string(rune('A'+i%26))
		reason := "reason " + string(rune('a'+i%15))
		r.skipped = append(r.skipped, skip{Package: pkg, Test: test, Reason: reason})
	}
	r.finish(false)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) > 2*maxReasons+4 {
		t.Errorf("summary has %d lines, want ≤ %d:\n%s", len(lines), 2*maxReasons+4, out.String())
	}
	for _, l := range lines {
		if len([]rune(l)) > lineWidth {
			t.Errorf("line of %d characters > %d: %q", len([]rune(l)), lineWidth, l)
		}
	}
	if !strings.Contains(out.String(), "more tests for 3 other reasons") {
		t.Errorf("summary does not count the groups left out:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "… (+") {
		t.Errorf("long name lists are not cut with a count:\n%s", out.String())
	}
	if strings.Contains(out.String(), ": … (+") {
		t.Errorf("a cut name list ends on a package label:\n%s", out.String())
	}
}
