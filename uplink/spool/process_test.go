package spool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faceverify/faceverify/agent/identity"
	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/testserver"
	"github.com/faceverify/faceverify/uplink"
	gwclient "github.com/faceverify/faceverify/uplink/gateway"
)

// Environment of the child process of TestKill9.
const (
	envChild    = "FACEVERIFY_SPOOL_CHILD" // kill point: "stored", "temp-synced" or "delivered"
	envDir      = "FACEVERIFY_SPOOL_DIR"
	envURL      = "FACEVERIFY_SPOOL_URL"
	envToken    = "FACEVERIFY_SPOOL_TOKEN"
	envCorr     = "FACEVERIFY_SPOOL_CORR"
	childDevice = "kiosk-1"
)

// childKey is the spool key both processes use (a file in production).
func childKey() []byte { return testKey() }

// signedClient is the agent's gateway client, signing as the device whose
// key lives in dir.
func signedClient(t testing.TB, dir string) (*gwclient.Client, *identity.Identity) {
	id, _, err := identity.LoadOrCreate(filepath.Join(dir, "device.key"), childDevice)
	if err != nil {
		t.Fatal(err)
	}
	return gwclient.New(gwclient.Options{Signer: id}), id
}

// TestSpoolChild is the agent side of TestKill9; it runs only as a child
// process. It spools one submission and stops forever at the kill point,
// after printing "READY <point>".
func TestSpoolChild(t *testing.T) {
	point := os.Getenv(envChild)
	if point == "" {
		t.Skip("child process of TestKill9 only")
	}
	dir := os.Getenv(envDir)
	client, _ := signedClient(t, dir)
	calls := 0
	next := submitFunc(func(ctx context.Context, base, token string, req api.SubmissionRequest, info uplink.SubmitInfo) (api.SubmissionResponse, error) {
		calls++
		if calls == 1 { // the gateway is unreachable when the session uploads
			return api.SubmissionResponse{}, errDown
		}
		return client.Submit(ctx, base, token, req, info)
	})
	testHook = func(p string) {
		if p == point {
			fmt.Printf("READY %s\n", p)
			os.Stdout.Sync()
			time.Sleep(time.Hour) // SIGKILL arrives here
		}
	}
	s, err := New(Options{Dir: filepath.Join(dir, "spool"), Key: childKey(), Next: next, RetryInitial: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Submit(context.Background(), os.Getenv(envURL), os.Getenv(envToken), req("sess-kill9-1"), uplink.SubmitInfo{CorrelationID: os.Getenv(envCorr)})
	if !errors.Is(err, ErrQueued) {
		t.Fatalf("Submit = %v, want queued", err)
	}
	s.Run(context.Background()) // delivers; "delivered" stops inside
	t.Fatal("Run returned")
}

type submitFunc func(ctx context.Context, base, token string, req api.SubmissionRequest, info uplink.SubmitInfo) (api.SubmissionResponse, error)

func (f submitFunc) Submit(ctx context.Context, base, token string, req api.SubmissionRequest, info uplink.SubmitInfo) (api.SubmissionResponse, error) {
	return f(ctx, base, token, req, info)
}

// TestKill9 kills the agent (SIGKILL) at three points of a spooled
// submission, restarts the spool on the same directory against a real
// gateway that requires device signatures, and checks that the gateway
// ends up with exactly the submissions it should: one when the record was
// stored (before or after its first delivery), none when the process died
// before the record's rename (the session had not been told it was queued).
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	cases := []struct {
		point       string
		wantBefore  int  // submissions at the gateway when the child died
		wantRecords int  // records on disk after the restart's scan
		wantAfter   int  // submissions after the restarted spool ran
		duplicate   bool // the restarted delivery was a duplicate
	}{
		{point: "stored", wantBefore: 0, wantRecords: 1, wantAfter: 1},
		{point: "delivered", wantBefore: 1, wantRecords: 1, wantAfter: 1, duplicate: true},
		{point: "temp-synced", wantBefore: 0, wantRecords: 0, wantAfter: 0},
	}
	for _, tc := range cases {
		t.Run("killed at "+tc.point, func(t *testing.T) {
			srv := testserver.Start(t, "", func(c *gateway.Config) { c.Devices.RequireSignature = true })
			dir := t.TempDir()
			client, id := signedClient(t, dir)
			srv.AddDevice(childDevice, id.PublicKey())
			corr := "corr-" + tc.point
			tok, flowID := srv.Flow(corr)

			cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), envChild+"="+tc.point, envDir+"="+dir, envURL+"="+srv.URL, envToken+"="+tok, envCorr+"="+corr)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			ready := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(out)
				var lines []string
				for sc.Scan() {
					if l := sc.Text(); strings.HasPrefix(l, "READY ") {
						ready <- l
						return
					} else {
						lines = append(lines, l)
					}
				}
				ready <- "EOF: " + strings.Join(lines, "\n")
			}()
			select {
			case l := <-ready:
				if l != "READY "+tc.point {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("child: %s\n%s", l, stderr.String())
				}
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("child never reached %s\n%s", tc.point, stderr.String())
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child did not die of SIGKILL: %v", err)
			}
			if n := len(srv.Submissions(flowID)); n != tc.wantBefore {
				t.Fatalf("gateway holds %d submissions when the child died, want %d", n, tc.wantBefore)
			}

			// Restart: a new spool on the same directory, the gateway now reachable.
			s := newSpool(t, filepath.Join(dir, "spool"), client, func(o *Options) { o.Key = childKey() })
			if st := s.Stats(); st.Records != tc.wantRecords || st.Tampered != 0 {
				t.Fatalf("after restart: %+v, want %d records", st, tc.wantRecords)
			}
			for _, f := range records(t, filepath.Join(dir, "spool")) {
				if strings.HasPrefix(f, ".tmp-") {
					t.Errorf("temporary file %s left after restart", f)
				}
			}
			runSpool(t, s)
			if tc.wantRecords > 0 {
				d := waitDelivery(t, s)
				if d.Err != nil || d.Key != "sess-kill9-1" || d.Response.Duplicate != tc.duplicate {
					t.Fatalf("delivery after restart %+v, want duplicate=%v", d, tc.duplicate)
				}
			}
			subs := srv.Submissions(flowID)
			if len(subs) != tc.wantAfter {
				t.Fatalf("gateway holds %d submissions, want exactly %d", len(subs), tc.wantAfter)
			}
			if len(subs) == 1 && (subs[0].IdempotencyKey != "sess-kill9-1" || subs[0].DeviceID != "kiosk-1") {
				t.Errorf("stored submission %+v", subs[0])
			}
			if st := s.Stats(); st.Records != 0 {
				t.Errorf("spool not empty: %+v", st)
			}
		})
	}
}
