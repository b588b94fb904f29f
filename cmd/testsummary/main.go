// Command testsummary runs `go test -json` with its arguments and prints
// what plain `go test` prints (each package's ok / FAIL / ? line, the output
// of failing tests, build errors), then a one-screen summary of the skipped
// tests grouped by reason, then go test's closing line: PASS, or the FAIL
// lines of the failed packages and FAIL, and last the counts as
// "tests: N passed, N failed, N skipped". It exits with go test's exit
// status. `make test` runs it so that a test skipped for want of photos,
// PostgreSQL, Chromium or the test kernel is seen, not hidden behind `ok`.
//
//	testsummary [go test flags] [packages]   # e.g. -race -count=1 ./...
//
// $GO names the go command (default "go"). The JSON events are those of
// `go doc cmd/test2json`.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.Command(goCmd, append([]string{"test", "-json"}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fatal(err)
	}
	// Ctrl-C reaches go test through the terminal's process group; keep
	// reading so its last lines and the summary are still printed.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	r := newReport(out, modulePath())
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		r.line(sc.Bytes())
		if r.flushable() {
			out.Flush()
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary: reading go test output:", err)
	}
	waitErr := cmd.Wait()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(waitErr, &exit):
		code = exit.ExitCode()
		if code < 0 { // killed by a signal
			code = 1
		}
	case waitErr != nil:
		fmt.Fprintln(os.Stderr, "testsummary:", waitErr)
		code = 1
	}
	if code == 0 && r.failed() {
		code = 1
	}
	r.finish(code != 0)
	out.Flush()
	os.Exit(code)
}

// modulePath is the main module's path ("github.com/faceverify/faceverify"),
// trimmed from package names in the summary; "" when unknown.
func modulePath() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Path
	}
	return ""
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "testsummary:", err)
	os.Exit(2)
}
