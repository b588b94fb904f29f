package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/testserver"
	"github.com/faceverify/faceverify/internal/clock"
	"github.com/faceverify/faceverify/uplink"
	gwclient "github.com/faceverify/faceverify/uplink/gateway"
)

var errDown = &uplink.Error{Op: "submit", Temporary: true, Err: errors.New("connection refused")}

// fakeNext is a scripted Submitter: fn answers call n (from 1).
type fakeNext struct {
	mu    sync.Mutex
	calls []api.SubmissionRequest
	fn    func(n int) (api.SubmissionResponse, error)
}

func (f *fakeNext) Submit(ctx context.Context, base, token string, req api.SubmissionRequest, info uplink.SubmitInfo) (api.SubmissionResponse, error) {
	f.mu.Lock()
	f.calls = append(f.calls, req)
	n, fn := len(f.calls), f.fn
	f.mu.Unlock()
	return fn(n)
}

func (f *fakeNext) n() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.calls) }

func down(int) (api.SubmissionResponse, error) { return api.SubmissionResponse{}, errDown }

func testKey() []byte { return bytes.Repeat([]byte{7}, KeyLen) }

func newSpool(t *testing.T, dir string, next uplink.Submitter, mutate ...func(*Options)) *Spool {
	t.Helper()
	o := Options{Dir: dir, Key: testKey(), Next: next, RetryInitial: 10 * time.Millisecond, RetryMax: 40 * time.Millisecond}
	for _, m := range mutate {
		m(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func req(key string) api.SubmissionRequest {
	return api.SubmissionRequest{Selfie: gatewaytest.PNG(gatewaytest.Red), DeviceID: "kiosk-1", IdempotencyKey: key,
		DeviceLiveness: api.DeviceLiveness{Score: 0.9, Live: true, Model: "fr_liveness.onnx"}, CapturedAt: time.Now().UTC().Truncate(time.Millisecond)}
}

func info(corr string) uplink.SubmitInfo {
	return uplink.SubmitInfo{CorrelationID: corr}
}

func records(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

// runSpool runs s.Run until the test ends.
func runSpool(t *testing.T, s *Spool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitDelivery(t *testing.T, s *Spool) Delivery {
	t.Helper()
	select {
	case d := <-s.Deliveries():
		return d
	case <-time.After(time.Minute):
		t.Fatal("no delivery outcome within a minute")
	}
	return Delivery{}
}

// TestGatewayDownThenBack: the gateway is unreachable for the whole
// session; the submission waits in the spool, retried with backoff, and
// is delivered exactly once when the gateway comes back.
func TestGatewayDownThenBack(t *testing.T) {
	srv := testserver.Start(t, "", func(c *gateway.Config) { c.Devices.RequireSignature = false }) // an unsigned client
	tok, flowID := srv.Flow("corr-down")
	var isDown atomic.Bool
	isDown.Store(true)
	var refused atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isDown.Load() { // a dead gateway: the connection drops
			refused.Add(1)
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		srv.HTTP.Config.Handler.ServeHTTP(w, r)
	}))
	defer front.Close()
	dir := t.TempDir()
	s := newSpool(t, dir, gwclient.New(gwclient.Options{}))

	_, err := s.Submit(context.Background(), front.URL, tok, req("sess-1-1"), info("corr-down"))
	var qe *QueuedError
	if !errors.Is(err, ErrQueued) || !errors.As(err, &qe) || qe.Reason != ReasonUnreachable {
		t.Fatalf("Submit while down = %v, want queued", err)
	}
	// The session retries the same attempt: it is not stored twice.
	if _, err := s.Submit(context.Background(), front.URL, tok, req("sess-1-1"), info("corr-down")); !errors.Is(err, ErrQueued) {
		t.Fatalf("second Submit = %v", err)
	}
	if got := len(records(t, dir)); got != 1 {
		t.Fatalf("%d files in the spool, want 1", got)
	}
	runSpool(t, s)
	deadline := time.Now().Add(time.Minute)
	for s.Stats().Retries < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := s.Stats(); st.Retries < 3 || st.Records != 1 {
		t.Fatalf("while down: %+v, want ≥3 retries and the record kept", st)
	}
	isDown.Store(false)
	d := waitDelivery(t, s)
	if d.Err != nil || d.Key != "sess-1-1" || d.CorrelationID != "corr-down" || d.Response.SubmissionID == "" {
		t.Fatalf("delivery %+v", d)
	}
	subs := srv.Submissions(flowID)
	if len(subs) != 1 || subs[0].IdempotencyKey != "sess-1-1" {
		t.Fatalf("gateway holds %d submissions, want exactly 1", len(subs))
	}
	if st := s.Stats(); st.Records != 0 || st.Bytes != 0 || st.Delivered != 1 || len(records(t, dir)) != 0 {
		t.Errorf("after delivery: %+v, files %v", st, records(t, dir))
	}
	t.Logf("gateway down: %d connections dropped, %d spool retries, then delivered once", refused.Load(), s.Stats().Retries)
}

func TestDeliveredNowIsNotSpooled(t *testing.T) {
	next := &fakeNext{fn: func(int) (api.SubmissionResponse, error) { return api.SubmissionResponse{SubmissionID: "s1"}, nil }}
	dir := t.TempDir()
	s := newSpool(t, dir, next)
	resp, err := s.Submit(context.Background(), "u", "t", req("k"), uplink.SubmitInfo{})
	if err != nil || resp.SubmissionID != "s1" || len(records(t, dir)) != 0 {
		t.Fatalf("resp %+v err %v files %v", resp, err, records(t, dir))
	}
}

func TestNotQueued(t *testing.T) {
	perm := &uplink.Error{Op: "submit", StatusCode: 400, Code: "bad_request", Err: errors.New("bad")}
	cases := []struct {
		name string
		err  error
		key  string
	}{
		{"permanent refusal", perm, "k"},
		{"expired token", &uplink.Error{Op: "submit", StatusCode: 410, Err: uplink.ErrTokenExpired}, "k"},
		{"no idempotency key", errDown, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newSpool(t, dir, &fakeNext{fn: func(int) (api.SubmissionResponse, error) { return api.SubmissionResponse{}, tc.err }})
			_, err := s.Submit(context.Background(), "u", "t", req(tc.key), uplink.SubmitInfo{})
			if errors.Is(err, ErrQueued) || !errors.Is(err, tc.err) || len(records(t, dir)) != 0 {
				t.Errorf("err %v, files %v; want the error as is and nothing spooled", err, records(t, dir))
			}
		})
	}
}

// failFS fails writes with ENOSPC while full is set.
type failFS struct {
	OSFS
	full atomic.Bool
}

type failFile struct {
	*os.File
	fs *failFS
}

func (f failFile) Write(p []byte) (int, error) {
	if f.fs.full.Load() {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.Write(p)
}

func (f *failFS) CreateTemp(dir, pattern string) (File, error) {
	file, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return failFile{file, f}, nil
}

func TestDiskFull(t *testing.T) {
	next := &fakeNext{fn: down}
	fsys := &failFS{}
	dir := t.TempDir()
	s := newSpool(t, dir, next, func(o *Options) { o.FS = fsys })
	if _, err := s.Submit(context.Background(), "u", "t", req("first"), uplink.SubmitInfo{}); !errors.Is(err, ErrQueued) {
		t.Fatal(err)
	}
	fsys.full.Store(true)
	_, err := s.Submit(context.Background(), "u", "t", req("second"), uplink.SubmitInfo{})
	if errors.Is(err, ErrQueued) || !errors.Is(err, ErrWrite) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Submit on a full disk = %v, want ErrWrite wrapping ENOSPC", err)
	}
	if !errors.Is(err, errDown) || uplink.Classify(err) != uplink.ClassTemporary {
		t.Errorf("the delivery error is lost: %v (class %v)", err, uplink.Classify(err))
	}
	if !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("error does not say why: %v", err)
	}
	st := s.Stats()
	if st.Records != 1 || st.WriteErrors != 1 || !st.Full {
		t.Errorf("stats %+v: want the first record kept, one write error, full", st)
	}
	if files := records(t, dir); len(files) != 1 || !strings.HasSuffix(files[0], ".rec") {
		t.Errorf("files %v: want only the first record (no temp left)", files)
	}
	// The disk frees up: the record stored before is delivered, and new ones store again.
	fsys.full.Store(false)
	next.mu.Lock()
	next.fn = func(int) (api.SubmissionResponse, error) { return api.SubmissionResponse{SubmissionID: "ok"}, nil }
	next.mu.Unlock()
	runSpool(t, s)
	if d := waitDelivery(t, s); d.Err != nil || d.Key != "first" {
		t.Errorf("delivery %+v, want the first record", d)
	}
	if s.Stats().Full {
		t.Errorf("still full after delivery")
	}

	// A record larger than the whole spool is refused without evicting.
	small := newSpool(t, t.TempDir(), &fakeNext{fn: down}, func(o *Options) { o.MaxBytes = 200 })
	if _, err := small.Submit(context.Background(), "u", "t", req("big"), uplink.SubmitInfo{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("tiny max_bytes: %v, want ErrTooLarge", err)
	}
}

func TestTamperedRecordsAreRefused(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(t *testing.T, path string, data []byte)
	}{
		{"ciphertext byte flipped", func(t *testing.T, p string, d []byte) { d[headerLen+5] ^= 0x40; write(t, p, d) }},
		{"tag byte flipped", func(t *testing.T, p string, d []byte) { d[len(d)-1] ^= 1; write(t, p, d) }},
		{"nonce changed", func(t *testing.T, p string, d []byte) { d[13] ^= 1; write(t, p, d) }},
		{"truncated", func(t *testing.T, p string, d []byte) { write(t, p, d[:len(d)-20]) }},
		{"header id edited", func(t *testing.T, p string, d []byte) { d[11]++; write(t, p, d) }},
		{"renamed to another id", func(t *testing.T, p string, d []byte) {
			os.Remove(p)
			write(t, filepath.Join(filepath.Dir(p), "00000000000000ff.rec"), d)
		}},
		{"bad magic", func(t *testing.T, p string, d []byte) { d[0] = 'X'; write(t, p, d) }},
		{"written under another key", func(t *testing.T, p string, d []byte) {
			aead, _ := newAEAD(bytes.Repeat([]byte{9}, KeyLen))
			out, err := sealRecord(aead, Record{Seq: 1, BaseURL: "u", Token: "t", Request: req("evil")})
			if err != nil {
				t.Fatal(err)
			}
			write(t, p, out)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newSpool(t, dir, &fakeNext{fn: down})
			if _, err := s.Submit(context.Background(), "u", "t", req("k"), uplink.SubmitInfo{}); !errors.Is(err, ErrQueued) {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "0000000000000001.rec")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(t, p, data)
			next := &fakeNext{fn: func(int) (api.SubmissionResponse, error) { return api.SubmissionResponse{}, nil }}
			s2 := newSpool(t, dir, next) // restart
			st := s2.Stats()
			if st.Tampered != 1 || st.Records != 0 || len(records(t, dir)) != 0 {
				t.Errorf("after restart: %+v files %v; want refused, counted, deleted", st, records(t, dir))
			}
			if next.n() != 0 {
				t.Errorf("a tampered record was sent")
			}
		})
	}
	// Tampering while the agent runs is caught at delivery.
	dir := t.TempDir()
	next := &fakeNext{fn: down}
	clk := clock.NewFake(floor.Add(time.Hour))
	s := newSpool(t, dir, next, func(o *Options) { o.Clock, o.RetryInitial, o.RetryMax = clk, time.Hour, time.Hour })
	runSpool(t, s) // idle first, so it parks once on the clock (see TestFirstRetryWaitsBackoff)
	s.Submit(context.Background(), "u", "t", req("k"), uplink.SubmitInfo{})
	p := filepath.Join(dir, "0000000000000001.rec")
	data, _ := os.ReadFile(p)
	data[headerLen] ^= 1
	write(t, p, data)
	if !clk.BlockUntil(1, time.Minute) {
		t.Fatal("spool not waiting for the first retry")
	}
	clk.Advance(time.Hour) // the first retry is due
	if d := waitDelivery(t, s); !errors.Is(d.Err, ErrTampered) || d.Key != "k" {
		t.Errorf("delivery %+v, want ErrTampered", d)
	}
	if st := s.Stats(); st.Tampered != 1 || st.Records != 0 || next.n() != 1 {
		t.Errorf("stats %+v, %d sends (only the first, before tampering)", st, next.n())
	}
}

func write(t *testing.T, p string, d []byte) {
	t.Helper()
	if err := os.WriteFile(p, d, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestEvictionOldestFirst(t *testing.T) {
	dir := t.TempDir()
	s := newSpool(t, dir, &fakeNext{fn: down}, func(o *Options) { o.MaxCount = 3 })
	for i := 1; i <= 5; i++ {
		if _, err := s.Submit(context.Background(), "u", "t", req(fmt.Sprintf("k%d", i)), uplink.SubmitInfo{}); !errors.Is(err, ErrQueued) {
			t.Fatal(err)
		}
	}
	var evicted []string
	for range 2 {
		d := waitDelivery(t, s)
		if !errors.Is(d.Err, ErrDiscarded) {
			t.Fatalf("outcome %+v, want evicted", d)
		}
		evicted = append(evicted, d.Key)
	}
	if strings.Join(evicted, ",") != "k1,k2" {
		t.Errorf("evicted %v, want k1,k2 (oldest first)", evicted)
	}
	st := s.Stats()
	if st.Evicted != 2 || st.Records != 3 {
		t.Errorf("stats %+v", st)
	}
	if got := strings.Join(records(t, dir), ","); got != "0000000000000003.rec,0000000000000004.rec,0000000000000005.rec" {
		t.Errorf("files %s", got)
	}
	// By bytes: room for two records; the third evicts the first.
	dir2 := t.TempDir()
	one := int64(0)
	{
		probe := newSpool(t, t.TempDir(), &fakeNext{fn: down})
		probe.Submit(context.Background(), "u", "t", req("a"), uplink.SubmitInfo{})
		one = probe.Stats().Bytes
	}
	s2 := newSpool(t, dir2, &fakeNext{fn: down}, func(o *Options) { o.MaxBytes = 2*one + one/2 })
	for _, k := range []string{"a", "b", "c"} {
		s2.Submit(context.Background(), "u", "t", req(k), uplink.SubmitInfo{})
	}
	if d := waitDelivery(t, s2); d.Key != "a" || !errors.Is(d.Err, ErrDiscarded) {
		t.Errorf("byte bound evicted %+v, want a", d)
	}
	if st := s2.Stats(); st.Records != 2 || st.Bytes > 2*one+one/2 {
		t.Errorf("stats %+v", st)
	}
}

var floor = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestClockUnsynced: a board that booted in 1970 spools without trying,
// delivers nothing until the clock is plausible, then delivers.
func TestClockUnsynced(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	next := &fakeNext{fn: func(int) (api.SubmissionResponse, error) { return api.SubmissionResponse{SubmissionID: "s"}, nil }}
	dir := t.TempDir()
	s := newSpool(t, dir, next, func(o *Options) { o.Clock, o.ClockFloor, o.MaxAge = clk, floor, 10*time.Minute })
	_, err := s.Submit(context.Background(), "u", "t", req("k"), info("c"))
	var qe *QueuedError
	if !errors.As(err, &qe) || qe.Reason != ReasonClockUnsynced || next.n() != 0 {
		t.Fatalf("Submit with a 1970 clock = %v, %d sends", err, next.n())
	}
	if !s.Stats().ClockUnsynced {
		t.Error("stats do not say clock_unsynced")
	}
	runSpool(t, s)
	for range 3 {
		if !clk.BlockUntil(1, time.Minute) {
			t.Fatal("spool not waiting on the clock")
		}
		clk.Advance(5 * time.Second)
	}
	if next.n() != 0 {
		t.Fatalf("delivered with an implausible clock")
	}
	clk.BlockUntil(1, time.Minute)
	clk.Advance(floor.Sub(clk.Now()) + time.Hour) // NTP sync
	if d := waitDelivery(t, s); d.Err != nil || next.n() != 1 {
		t.Fatalf("after sync: %+v, %d sends", d, next.n())
	}
	if s.Stats().ClockUnsynced {
		t.Error("still clock_unsynced")
	}
}

func TestExpiryAndRejection(t *testing.T) {
	t.Run("token expires while down", func(t *testing.T) {
		clk := clock.NewFake(floor.Add(time.Hour))
		next := &fakeNext{fn: down}
		s := newSpool(t, t.TempDir(), next, func(o *Options) {
			o.Clock, o.RetryInitial, o.RetryMax = clk, time.Second, time.Second
		})
		s.Submit(context.Background(), "u", "t", req("k"), uplink.SubmitInfo{CorrelationID: "c", TokenExpires: clk.Now().Add(3 * time.Second)})
		runSpool(t, s)
		var d Delivery
		for got := false; !got; {
			clk.BlockUntil(1, time.Minute)
			clk.Advance(time.Second)
			select {
			case d = <-s.Deliveries():
				got = true
			case <-time.After(20 * time.Millisecond):
			}
		}
		if !errors.Is(d.Err, ErrExpired) || s.Stats().Expired != 1 || s.Stats().Records != 0 {
			t.Errorf("outcome %+v stats %+v", d, s.Stats())
		}
	})
	t.Run("permanent refusal at delivery", func(t *testing.T) {
		perm := &uplink.Error{Op: "submit", StatusCode: 403, Code: api.CodeRevokedDevice, Err: uplink.ErrUnauthorized}
		next := &fakeNext{fn: func(n int) (api.SubmissionResponse, error) {
			if n == 1 {
				return api.SubmissionResponse{}, errDown
			}
			return api.SubmissionResponse{}, perm
		}}
		s := newSpool(t, t.TempDir(), next)
		s.Submit(context.Background(), "u", "t", req("k"), uplink.SubmitInfo{})
		runSpool(t, s)
		if d := waitDelivery(t, s); !errors.Is(d.Err, uplink.ErrUnauthorized) || s.Stats().Rejected != 1 || s.Stats().Records != 0 {
			t.Errorf("outcome %+v stats %+v", d, s.Stats())
		}
	})
	t.Run("clock skew is retried", func(t *testing.T) {
		skew := &uplink.Error{Op: "submit", StatusCode: 401, Code: api.CodeClockSkew, Err: uplink.ErrUnauthorized}
		next := &fakeNext{fn: func(n int) (api.SubmissionResponse, error) {
			if n < 3 {
				return api.SubmissionResponse{}, skew
			}
			return api.SubmissionResponse{SubmissionID: "s"}, nil
		}}
		s := newSpool(t, t.TempDir(), next)
		if _, err := s.Submit(context.Background(), "u", "t", req("k"), uplink.SubmitInfo{}); !errors.Is(err, ErrQueued) {
			t.Fatal(err)
		}
		runSpool(t, s)
		if d := waitDelivery(t, s); d.Err != nil || next.n() != 3 {
			t.Errorf("outcome %+v after %d sends", d, next.n())
		}
	})
}

func TestDiscard(t *testing.T) {
	dir := t.TempDir()
	s := newSpool(t, dir, &fakeNext{fn: down})
	s.Submit(context.Background(), "u", "t", req("k"), uplink.SubmitInfo{})
	if !s.Discard("k") || s.Discard("k") || len(records(t, dir)) != 0 || s.Stats().Discarded != 1 {
		t.Errorf("discard: files %v stats %+v", records(t, dir), s.Stats())
	}
}

// TestNoPlaintextOnDisk: neither the selfie, the token nor the metadata
// appear in the record file.
func TestNoPlaintextOnDisk(t *testing.T) {
	dir := t.TempDir()
	s := newSpool(t, dir, &fakeNext{fn: down})
	r := req("idem-key-visible?")
	s.Submit(context.Background(), "https://gw.example", "secret-user-token", r, info("corr-visible?"))
	data, err := os.ReadFile(filepath.Join(dir, "0000000000000001.rec"))
	if err != nil {
		t.Fatal(err)
	}
	for _, needle := range [][]byte{r.Selfie[8:40], []byte("secret-user-token"), []byte("idem-key"), []byte("corr-visible"), []byte("gw.example"), []byte("kiosk-1")} {
		if bytes.Contains(data, needle) {
			t.Errorf("record file contains %q in clear", needle)
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, "0000000000000001.rec")); st.Mode().Perm() != 0o600 {
		t.Errorf("record mode %v", st.Mode().Perm())
	}
	t.Logf("record: %d bytes for a %d-byte selfie (%d bytes overhead, %d fixed)", len(data), len(r.Selfie), len(data)-len(r.Selfie), Overhead)
}

func TestRecordRoundTrip(t *testing.T) {
	aead, _ := newAEAD(testKey())
	in := Record{Seq: 42, BaseURL: "https://gw", Token: "tok", CorrelationID: "c",
		Created: floor, Expires: floor.Add(time.Minute), Request: req("k")}
	data, err := sealRecord(aead, in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := openRecord(aead, 42, data)
	if err != nil {
		t.Fatal(err)
	}
	if out.Token != in.Token || out.CorrelationID != "c" || !out.Created.Equal(floor) || !out.Expires.Equal(in.Expires) ||
		!bytes.Equal(out.Request.Selfie, in.Request.Selfie) || out.Request.IdempotencyKey != "k" ||
		!out.Request.CapturedAt.Equal(in.Request.CapturedAt) || out.Request.DeviceLiveness != in.Request.DeviceLiveness {
		t.Errorf("round trip:\n in %+v\nout %+v", in, out)
	}
	if _, err := openRecord(aead, 43, data); !errors.Is(err, ErrTampered) {
		t.Errorf("opened as another id: %v", err)
	}
}

func TestKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s", "spool.key")
	k1, created, err := LoadOrCreateKey(p)
	if err != nil || !created || len(k1) != KeyLen {
		t.Fatalf("create: %v %v", created, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	k2, created, err := LoadOrCreateKey(p)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Errorf("reload: created=%v err=%v same=%v", created, err, bytes.Equal(k1, k2))
	}
	os.Chmod(p, 0o644)
	if _, _, err := LoadOrCreateKey(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: %v", err)
	}
	os.WriteFile(p, []byte("short"), 0o600)
	os.Chmod(p, 0o600)
	if _, _, err := LoadOrCreateKey(p); err == nil {
		t.Error("short key accepted")
	}
}

func FuzzOpenRecord(f *testing.F) {
	aead, _ := newAEAD(testKey())
	good, _ := sealRecord(aead, Record{Seq: 1, BaseURL: "u", Token: "t", Request: req("k")})
	f.Add(uint64(1), good)
	f.Add(uint64(1), []byte("FVS1"))
	f.Add(uint64(0), []byte{})
	f.Fuzz(func(t *testing.T, seq uint64, data []byte) {
		r, err := openRecord(aead, seq, data)
		if err == nil && (r.Seq != seq || r.Request.IdempotencyKey == "") {
			t.Errorf("accepted %+v", r)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTampered) {
			t.Errorf("unclassified error %v", err)
		}
	})
}

func FuzzDecodePlain(f *testing.F) {
	p, _ := encodePlain(Record{BaseURL: "u", Token: "t", CorrelationID: "c", Request: req("k")})
	f.Add(p)
	withExtras := req("k")
	withExtras.SelfieExtra = [][]byte{{1, 2}, {3}}
	p, _ = encodePlain(Record{BaseURL: "u", Token: "t", Request: withExtras})
	f.Add(p)
	f.Add([]byte{0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodePlain(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("unclassified error %v", err)
			}
			return
		}
		again, err := encodePlain(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := decodePlain(again)
		if err != nil || r2.Request.IdempotencyKey != r.Request.IdempotencyKey || !bytes.Equal(r2.Request.Selfie, r.Request.Selfie) ||
			!slices.EqualFunc(r2.Request.SelfieExtra, r.Request.SelfieExtra, bytes.Equal) {
			t.Errorf("re-encoding changed the record: %v", err)
		}
	})
}

func BenchmarkStore(b *testing.B) {
	for _, size := range []int{64 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("selfie=%dKiB", size>>10), func(b *testing.B) {
			dir := b.TempDir()
			s, err := New(Options{Dir: dir, Key: testKey(), Next: &fakeNext{fn: down}, MaxCount: 1 << 20, MaxBytes: 1 << 40})
			if err != nil {
				b.Fatal(err)
			}
			r := req("k")
			r.Selfie = bytes.Repeat([]byte{0xab}, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := range b.N {
				r.IdempotencyKey = fmt.Sprintf("k%d", i)
				if err := s.store("https://gw", "token", r, uplink.SubmitInfo{}, time.Now(), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
