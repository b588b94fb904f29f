// Package sigctx gives the daemons their signal-aware context: the first
// SIGINT or SIGTERM cancels it (a graceful shutdown), a second one aborts a
// slow shutdown at once. It is a leaf: standard library only.
package sigctx

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// AbortStatus is the exit status after a second signal: 128 + SIGINT, the
// shell's convention for a process ended by an interrupt.
const AbortStatus = 130

// New returns a context cancelled by the first SIGINT or SIGTERM. A second
// one writes "<prog>: second <signal>, aborting" to stderr and exits the
// process with AbortStatus. stop releases the signals and cancels the
// context; call it when the daemon returns.
func New(prog string, stderr io.Writer) (ctx context.Context, stop func()) {
	return notify(prog, stderr, os.Exit)
}

func notify(prog string, stderr io.Writer, exit func(int)) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	stopped := make(chan struct{})
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-stopped:
			return
		}
		// Wait on stopped, not ctx.Done: ctx is already cancelled here, and
		// a select on it would return at once and swallow the second signal.
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "%s: second %v, aborting\n", prog, s)
			exit(AbortStatus)
		case <-stopped:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(stopped)
			cancel()
		})
	}
}
