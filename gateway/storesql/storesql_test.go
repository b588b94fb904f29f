package storesql

import (
	"errors"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"none", "SELECT 1", "SELECT 1"},
		{"one", "SELECT a FROM t WHERE id = ?", "SELECT a FROM t WHERE id = $1"},
		{"several", "UPDATE t SET a = ?, b = ? WHERE id IN (?, ?)", "UPDATE t SET a = $1, b = $2 WHERE id IN ($3, $4)"},
		{"ten and more", "?,?,?,?,?,?,?,?,?,?,?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Rebind(tc.in); got != tc.want {
				t.Errorf("Rebind(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestTimeScanner(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	want := time.Date(2026, 12, 7, 1, 2, 3, 456789000, time.UTC)
	for _, tc := range []struct {
		name    string
		src     any
		want    time.Time
		wantErr bool
	}{
		{"NULL is the zero time", nil, time.Time{}, false},
		{"SQLite Unix microseconds", want.UnixMicro(), want, false},
		{"PostgreSQL timestamptz in another zone", want.In(cet), want, false},
		{"text is refused", "2026-12-07", time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := time.Unix(1, 0) // overwritten unless refused
			err := Time(&got).Scan(tc.src)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Scan(%v) error = %v, want error %v", tc.src, err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("Scan(%v) = %v, want %v in UTC", tc.src, got, tc.want)
			}
		})
	}
}

// fakeRows yields n rows of one int64 column, then err.
type fakeRows struct {
	n, i int
	err  error
}

func (r *fakeRows) Next() bool { r.i++; return r.i <= r.n }
func (r *fakeRows) Err() error { return r.err }
func (r *fakeRows) Scan(dest ...any) error {
	*dest[0].(*int64) = int64(r.i)
	return nil
}

func scanInt(row Row) (int64, error) {
	var v int64
	err := row.Scan(&v)
	return v, err
}

func TestCollect(t *testing.T) {
	got, err := Collect(&fakeRows{n: 3}, "list", scanInt)
	if err != nil || len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Fatalf("Collect = %v, %v; want [1 2 3], nil", got, err)
	}
	broken := errors.New("connection reset")
	if _, err := Collect(&fakeRows{n: 1, err: broken}, "list", scanInt); !errors.Is(err, broken) || err.Error() != "list: connection reset" {
		t.Errorf("Collect with a failing iteration = %v, want %q wrapping it", err, "list: connection reset")
	}
	stop := errors.New("bad row")
	if _, err := Collect(&fakeRows{n: 2}, "list", func(Row) (int64, error) { return 0, stop }); err != stop {
		t.Errorf("Collect with a failing scan = %v, want the scan's error as it is", err)
	}
}

// oneRow is a single-row result: err from Scan, else one text column.
type oneRow struct{ err error }

func (r oneRow) Scan(dest ...any) error { return r.err }

func TestDecoderNotFound(t *testing.T) {
	noRows := errors.New("no rows in result set")
	d := Decoder{NoRows: noRows}
	if _, err := d.Flow(oneRow{noRows}); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Flow on no row = %v, want gateway.ErrNotFound", err)
	}
	other := errors.New("conn closed")
	if _, err := d.Device(oneRow{other}); !errors.Is(err, other) || errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Device on a driver error = %v, want it wrapped, not ErrNotFound", err)
	}
}
