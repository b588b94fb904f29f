package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/uplink/mqtt/mqtttest"
)

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("correct horse battery", MinHashIterations)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, fmt.Sprintf("$7$%d$", MinHashIterations)) {
		t.Fatalf("hash %q: not $7$%d$…", h, MinHashIterations)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("hash contains the password")
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		ok, err := CheckPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	h2, err := HashPassword("correct horse battery", MinHashIterations)
	if err != nil {
		t.Fatal(err)
	}
	if h2 == h {
		t.Error("two hashes of one password are equal: salt not random")
	}
	for _, n := range []int{1, 101, MinHashIterations - 1, 10_000_001} {
		if _, err := HashPassword("pw", n); err == nil {
			t.Errorf("HashPassword with %d iterations succeeded", n)
		}
	}
	if _, err := HashPassword("", 0); err == nil {
		t.Error("HashPassword of an empty password succeeded")
	}
}

func TestParseUsers(t *testing.T) {
	h, err := HashPassword("pw-0123456789", MinHashIterations)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    string
		want    []string // "name role"
		wantErr string
	}{
		{"accounts, comments and blanks", "# fleet\n\nkiosk-7 kiosk " + h + "\n  fleet-operator\toperator " + h + "  \ndash viewer " + h + "\nha homeassistant " + h + "\n",
			[]string{"kiosk-7 kiosk", "fleet-operator operator", "dash viewer", "ha homeassistant"}, ""},
		{"empty", "# nobody\n", nil, "no accounts"},
		{"two fields", "kiosk-7 kiosk\n", nil, "line 1: want"},
		{"plaintext password", "kiosk-7 kiosk secret\n", nil, "line 1: kiosk-7: password hash"},
		{"mosquitto default iterations", "kiosk-7 kiosk $7$101$" + strings.SplitN(h, "$", 5)[3] + "$" + strings.SplitN(h, "$", 5)[4] + "\n", nil, "iterations"},
		{"short key", "kiosk-7 kiosk $7$10000$c2FsdHNhbHQ=$a2V5\n", nil, "key"},
		{"unknown role", "kiosk-7 admin " + h + "\n", nil, `line 1: kiosk-7: role "admin"`},
		{"wildcard name", "kiosk+ kiosk " + h + "\n", nil, "line 1: name"},
		{"slash name", "a/b kiosk " + h + "\n", nil, "line 1: name"},
		{"duplicate", "k kiosk " + h + "\n#\nk viewer " + h + "\n", nil, "line 3: k: already on line 1"},
		{"same discovery node", "kiosk.a kiosk " + h + "\nkiosk_a kiosk " + h + "\n", nil, "line 2: kiosk_a: same Home Assistant node id"},
		{"same node, not both kiosks", "kiosk.a kiosk " + h + "\nkiosk_a viewer " + h + "\n", []string{"kiosk.a kiosk", "kiosk_a viewer"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			accts, err := ParseUsers(strings.NewReader(tt.file))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseUsers error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range accts {
				got = append(got, a.Name+" "+string(a.Role))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("accounts %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseUsers(f *testing.F) {
	h, err := HashPassword("pw-0123456789", MinHashIterations)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("kiosk-7 kiosk " + h + "\n")
	f.Add("# c\n\nop operator $7$10000$AAAA$BBBB\n")
	f.Add("a b c d\n")
	f.Fuzz(func(t *testing.T, s string) {
		accts, err := ParseUsers(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, a := range accts {
			if !ValidAccountName(a.Name) || a.hash.iterations < MinHashIterations || len(a.hash.key) != hashKeyLen {
				t.Fatalf("accepted %+v", a)
			}
			if _, err := ParseRole(string(a.Role)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestHashWorksInMosquitto: a line's hash, as `facegateway broker-user add`
// writes it, works unchanged in a mosquitto password_file.
func TestHashWorksInMosquitto(t *testing.T) {
	h, err := HashPassword("kiosk-7-password", MinHashIterations)
	if err != nil {
		t.Fatal(err)
	}
	pwfile := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(pwfile, []byte("kiosk-7:"+h+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := mqtttest.StartMosquitto(t, "allow_anonymous false\npassword_file "+pwfile+"\n")
	for pw, ok := range map[string]bool{"kiosk-7-password": true, "wrong-password": false} {
		c, err := connect(t, m.URL(), "compat-"+fmt.Sprint(ok), "kiosk-7", pw)
		if err == nil {
			c.Disconnect(0)
		}
		if (err == nil) != ok {
			t.Errorf("mosquitto login with %q: %v, want ok=%v\n%s", pw, err, ok, m.Log())
		}
	}
}

// BenchmarkCheckPassword is the cost of one login at the default
// iteration count.
func BenchmarkCheckPassword(b *testing.B) {
	h, err := HashPassword("kiosk-7-password", 0)
	if err != nil {
		b.Fatal(err)
	}
	ph, err := parseHash(h)
	if err != nil {
		b.Fatal(err)
	}
	pw := []byte("kiosk-7-password")
	b.ReportAllocs()
	for b.Loop() {
		if !ph.check(pw) {
			b.Fatal("password refused")
		}
	}
}
