package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/faceverify/faceverify/gateway/broker"
)

// TestBrokerUserAdd: the printed lines make a users file the embedded
// broker loads, and each account logs in with its password only.
func TestBrokerUserAdd(t *testing.T) {
	const kioskPW, opPW = "kiosk-7-password-0123", "operator-password-0123"
	noEnv := func(string) string { return "" }
	env := func(k string) string {
		if k == envBrokerUserPassword {
			return opPW
		}
		return ""
	}
	var file bytes.Buffer
	steps := []struct {
		name     string
		args     []string
		stdin    string
		getenv   func(string) string
		wantCode int
	}{
		{"kiosk, password on stdin", []string{"add", "-iterations", "10000", "kiosk-7", "kiosk"}, kioskPW + "\n", noEnv, 0},
		{"operator, password from env", []string{"add", "-iterations", "10000", "fleet-operator", "operator"}, "ignored\n", env, 0},
		{"unknown role", []string{"add", "kiosk-8", "admin"}, kioskPW + "\n", noEnv, 2},
		{"wildcard name", []string{"add", "kiosk/#", "kiosk"}, kioskPW + "\n", noEnv, 2},
		{"short password", []string{"add", "kiosk-8", "kiosk"}, "short\n", noEnv, 2},
		{"no password", []string{"add", "kiosk-8", "kiosk"}, "", noEnv, 2},
		{"too few iterations", []string{"add", "-iterations", "101", "kiosk-8", "kiosk"}, kioskPW + "\n", noEnv, 2},
		{"missing role", []string{"add", "kiosk-8"}, kioskPW + "\n", noEnv, 2},
		{"no subcommand", nil, "", noEnv, 2},
	}
	for _, st := range steps {
		var out, errw bytes.Buffer
		code := brokerUserMain(st.args, strings.NewReader(st.stdin), st.getenv, &out, &errw)
		if code != st.wantCode {
			t.Errorf("%s: exit %d (stderr %q), want %d", st.name, code, errw.String(), st.wantCode)
		}
		if code != 0 {
			if out.Len() > 0 {
				t.Errorf("%s: printed %q on failure", st.name, out.String())
			}
			continue
		}
		if strings.Contains(out.String(), kioskPW) || strings.Contains(out.String(), opPW) || strings.Contains(errw.String(), kioskPW) {
			t.Errorf("%s: the password was printed", st.name)
		}
		file.Write(out.Bytes())
	}

	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{Enabled: true, Listen: "127.0.0.1:0", UsersFile: path}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("broker refuses the printed users file %q: %v", file.String(), err)
	}
	defer b.Close()
	logins := []struct{ user, pass string }{{"kiosk-7", kioskPW}, {"fleet-operator", opPW}, {"kiosk-7", opPW}, {"fleet-operator", "ignored"}}
	for i, l := range logins {
		want := i < 2
		c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID(l.user + "-" + string(rune('a'+i))).
			SetUsername(l.user).SetPassword(l.pass).SetAutoReconnect(false).SetConnectTimeout(3 * time.Second))
		tok := c.Connect()
		ok := tok.WaitTimeout(5*time.Second) && tok.Error() == nil
		if ok {
			c.Disconnect(0)
		}
		if ok != want {
			t.Errorf("login %s with password %d: ok=%v, want %v", l.user, i, ok, want)
		}
	}
}
