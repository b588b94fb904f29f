package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" = valid
	}{
		{"disabled is always valid", Config{Listen: "garbage"}, ""},
		{"loopback anonymous", Config{Enabled: true, Listen: "127.0.0.1:1883"}, ""},
		{"localhost anonymous", Config{Enabled: true, Listen: "localhost:1883"}, ""},
		{"bad address", Config{Enabled: true, Listen: "1883"}, "broker.listen"},
		{"public without TLS", Config{Enabled: true, Listen: "0.0.0.0:8883", UsersFile: "u"}, "broker.tls_cert"},
		{"public without users file", Config{Enabled: true, Listen: "0.0.0.0:8883", TLSCert: "c", TLSKey: "k"}, "broker.users_file"},
		{"public with users file and TLS", Config{Enabled: true, Listen: "0.0.0.0:8883", UsersFile: "u", TLSCert: "c", TLSKey: "k"}, ""},
		{"loopback with users file", Config{Enabled: true, Listen: "[::1]:1883", UsersFile: "u"}, ""},
		{"half TLS", Config{Enabled: true, Listen: "127.0.0.1:1", TLSCert: "c"}, "broker.tls_key"},
		{"wildcard prefix", Config{Enabled: true, Listen: "127.0.0.1:1", Prefix: "fv/+"}, "broker.prefix"},
		{"empty prefix level", Config{Enabled: true, Listen: "127.0.0.1:1", Prefix: "fv//x"}, "broker.prefix"},
		{"system ha prefix", Config{Enabled: true, Listen: "127.0.0.1:1", HAPrefix: "$SYS"}, "broker.ha_prefix"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want error naming %q", err, tc.wantErr)
			}
		})
	}
}

func connect(t *testing.T, url, id, user, pass string) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(user).SetPassword(pass).
		SetConnectTimeout(30 * time.Second).SetAutoReconnect(false)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(time.Minute) {
		return nil, context.DeadlineExceeded
	}
	return c, tok.Error()
}

func TestRetainedMessageReachesLateSubscriber(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := Start(ctx, Config{Enabled: true, Listen: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pub, err := connect(t, b.URL(), "pub", "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Disconnect(100)
	if tok := pub.Publish("faceverify/dev1/status", 1, true, `{"state":"online"}`); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	sub, err := connect(t, b.URL(), "sub", "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Disconnect(100)
	got := make(chan string, 1)
	sub.Subscribe("faceverify/+/status", 1, func(_ paho.Client, m paho.Message) {
		if m.Retained() {
			got <- string(m.Payload())
		}
	})
	select {
	case p := <-got:
		if p != `{"state":"online"}` {
			t.Fatalf("retained payload = %q", p)
		}
	case <-time.After(time.Minute):
		t.Fatal("no retained status delivered to a late subscriber")
	}
}
