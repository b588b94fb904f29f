package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/pgstore"
	"github.com/faceverify/faceverify/gateway/pgstore/pgstoretest"
	"github.com/faceverify/faceverify/gateway/sqlitestore"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/testenv"
)

// noiseSelfie is a w×w PNG of seeded noise (incompressible, so its bytes
// are unique) whose top-left pixel is c (what the fake analyzer reads).
func noiseSelfie(seed uint64, w int, c color.RGBA) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	img := image.NewRGBA(image.Rect(0, 0, w, w))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Uint32())
	}
	img.SetRGBA(0, 0, c)
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

// sqliteFiles reads the database, -wal and -shm as they are now (a copy).
func sqliteFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// pgFiles reads, through the server (pg_read_binary_file, superuser), the
// test database's relation files and the WAL segments written since
// since, after a CHECKPOINT so that every page is on disk.
func pgFiles(t *testing.T, dsn string, since time.Time) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CHECKPOINT`); err != nil {
		testenv.Missing(t, "scanning PostgreSQL's files needs a superuser in %s: %v", pgstoretest.EnvDSN, err)
	}
	var oid string
	if err := conn.QueryRow(ctx, `SELECT oid::text FROM pg_database WHERE datname = current_database()`).Scan(&oid); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `
		SELECT 'base/' || $1 || '/' || f FROM pg_ls_dir('base/' || $1) f
		UNION ALL
		SELECT 'pg_wal/' || f FROM pg_ls_dir('pg_wal') f
			WHERE f ~ '^[0-9A-F]{24}$' AND (pg_stat_file('pg_wal/' || f)).modification >= $2`, oid, since.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, n := range names {
		var b []byte
		if err := conn.QueryRow(ctx, `SELECT COALESCE(pg_read_binary_file($1::text, 0, 268435456, true), ''::bytea)`, n).Scan(&b); err != nil {
			t.Fatalf("read %s: %v", n, err)
		}
		out[n] = b
	}
	if len(out) == 0 {
		t.Fatal("no PostgreSQL files read")
	}
	return out
}

// TestSelfieNotRecoverable runs the gateway on each backend, copies the
// database files while a selfie is being processed, and after the decision
// scans the live files and the copy for any 32 bytes of the selfie: none
// may be found. The copy holds the selfie sealed; once the epoch key is
// destroyed on schedule, that copy is unreadable too. A control selfie
// stored in clear through the same store is found by the same scan.
func TestSelfieNotRecoverable(t *testing.T) {
	backends := []struct {
		name string
		open func(t *testing.T) (gateway.Store, func(since time.Time) map[string][]byte)
	}{
		{name: "sqlite", open: func(t *testing.T) (gateway.Store, func(time.Time) map[string][]byte) {
			path := filepath.Join(t.TempDir(), "gw.db")
			s, err := sqlitestore.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			return s, func(time.Time) map[string][]byte { return sqliteFiles(t, path) }
		}},
		{name: "postgres", open: func(t *testing.T) (gateway.Store, func(time.Time) map[string][]byte) {
			dsn := pgstoretest.DSN(t)
			s, err := pgstore.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			return s, func(since time.Time) map[string][]byte { return pgFiles(t, dsn, since) }
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			start := time.Now()
			store, files := b.open(t)
			defer store.Close()
			p := newFakePartner(t)
			cfg := testConfig(t, p)
			cfg.Partners[0].CallbackURL = ""
			an := gatewaytest.NewAnalyzer()
			an.Set(gatewaytest.Red, gatewaytest.Live(gatewaytest.E(3)))
			an.Set(gatewaytest.Green, gatewaytest.Live(gatewaytest.E(3)))
			p.serveImage(gatewaytest.PNG(gatewaytest.Green))
			entered, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			an.Hook = func(ctx context.Context, c color.RGBA, o inference.Options) error {
				if c == gatewaytest.Red && o.Liveness {
					once.Do(func() { close(entered) })
					select {
					case <-release:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				return nil
			}
			clk := &clock{}
			gw, err := gateway.New(cfg, gateway.Deps{Store: store, Analyzer: an, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- gw.Serve(ctx, ln) }()
			defer func() { cancel(); <-done }()
			e := &env{t: t, url: "http://" + ln.Addr().String(), partner: p, cfg: cfg}

			secret := noiseSelfie(uint64(start.UnixNano()), 180, gatewaytest.Red)
			tok, _ := e.initiate("alice")
			req := selfie(gatewaytest.Red, "k1")
			req.Selfie = secret
			if code, _, ae := e.submit(tok, req); code != 202 {
				t.Fatalf("submit: %d %+v", code, ae)
			}
			select {
			case <-entered:
			case <-time.After(10 * time.Second):
				t.Fatal("selfie never analysed")
			}
			during := files(start) // a copy taken while the gateway works on the selfie
			close(release)
			if st := e.waitStatus(tok); st.Status != api.StatusVerified {
				t.Fatalf("decision %+v, want VERIFIED", st)
			}
			after := files(start)
			if l := gatewaytest.Leaks(during, secret); len(l) > 0 {
				t.Errorf("copy taken during processing holds selfie bytes: %v", l)
			}
			if l := gatewaytest.Leaks(after, secret); len(l) > 0 {
				t.Errorf("files after the decision hold selfie bytes: %v", l)
			}
			t.Logf("%s: scanned %d files (%d bytes) during and %d after; selfie %d bytes", b.name, len(during), total(during), len(after), len(secret))

			// Control: a selfie stored in clear is found by the same scan.
			control := noiseSelfie(uint64(start.UnixNano())+1, 100, gatewaytest.Blue)
			f, _, err := store.CreateFlow(context.Background(), gateway.Flow{ID: "flw_control", PartnerID: "ghost", CorrelationID: "control",
				PartnerUserID: "x", PartnerUserIDType: "account", Kind: api.FlowSelfie, CreatedAt: clk.Now()})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := store.CreateSubmission(context.Background(), gateway.Submission{ID: "sub_control", FlowID: f.ID,
				Fingerprint: []byte{1}, DeviceID: "d", Selfie: control, SubmittedAt: clk.Now()}, 3); err != nil {
				t.Fatal(err)
			}
			l := gatewaytest.Leaks(files(start), control)
			if len(l) == 0 {
				t.Fatal("control: a selfie stored in clear was not found, so the scan proves nothing")
			}
			t.Logf("%s: control selfie stored in clear found as %v runs", b.name, l)

			// The sealed selfie in the copy dies with its epoch key.
			sealedID, sealed := sealedIn(t, b.name, during)
			keys := gw.SelfieKeys()
			if sealed != nil {
				if _, err := keys.Open(clk.Now(), sealedID, sealed); err != nil {
					t.Fatalf("sealed selfie from the copy, before its key is destroyed: %v", err)
				}
			}
			clk.Advance(cfg.Erasure.Epoch + cfg.Erasure.KeyLifetime)
			if n, err := gw.ShredKeys(); n < 1 || err != nil {
				t.Fatalf("ShredKeys = %d %v", n, err)
			}
			if len(keys.Held()) != 0 {
				t.Errorf("keys held after destruction: %v", keys.Held())
			}
			if sealed != nil {
				if _, err := keys.Open(clk.Now(), sealedID, sealed); !errors.Is(err, gateway.ErrSelfieKeyDestroyed) {
					t.Errorf("sealed selfie from the copy after destruction: %v", err)
				}
			}
		})
	}
}

// sealedIn reads the submission id and sealed selfie out of a SQLite copy
// with the store (nil for other backends).
func sealedIn(t *testing.T, backend string, files map[string][]byte) (string, []byte) {
	t.Helper()
	if backend != "sqlite" {
		return "", nil
	}
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "gw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	far := time.Now().Add(time.Hour)
	sub, err := s.ClaimSubmission(context.Background(), "reader", far, far.Add(time.Minute))
	if err != nil {
		t.Fatalf("the copy holds no submission: %v", err)
	}
	if !gateway.IsSealedSelfie(sub.Selfie) {
		t.Fatalf("the copy's selfie is not sealed (%d bytes)", len(sub.Selfie))
	}
	return sub.ID, sub.Selfie
}

func total(files map[string][]byte) int {
	n := 0
	for _, b := range files {
		n += len(b)
	}
	return n
}

// TestLeaks checks the scanner itself: a 32-byte run anywhere is found,
// 31 bytes are not.
func TestLeaks(t *testing.T) {
	secret := noiseSelfie(7, 40, gatewaytest.Red)
	secret = append(append(secret, make([]byte, 40)...), 1) // padding, as JPEG headers hold
	for _, tc := range []struct {
		name string
		file []byte
		want int
	}{
		{"32 bytes at odd offset", append(append([]byte("xxxxxxx"), secret[1001:1033]...), "yyy"...), 1},
		{"31 bytes", append([]byte("x"), secret[500:531]...), 0},
		{"whole selfie", append([]byte("abc"), secret...), 1},
		{"two runs", append(append(append([]byte{}, secret[0:40]...), make([]byte, 50)...), secret[2000:2100]...), 2},
		{"nothing", make([]byte, 5000), 0},
		{"padding shared by chance", append(make([]byte, 40), 1), 0},
	} {
		if got := gatewaytest.Leaks(map[string][]byte{"f": tc.file}, secret)["f"]; got != tc.want {
			t.Errorf("%s: %d runs, want %d", tc.name, got, tc.want)
		}
	}
}
