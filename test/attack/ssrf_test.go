package attack

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

// loopbackName returns a host name of this machine that resolves only to
// loopback addresses (the hostname, in /etc/hosts), or skips t.
func loopbackName(t *testing.T) (string, net.IP) {
	t.Helper()
	h, err := os.Hostname()
	if err == nil {
		addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", h)
		if err == nil && len(addrs) > 0 {
			all := true
			for _, a := range addrs {
				all = all && a.Unmap().IsLoopback()
			}
			if all {
				return h, net.IP(addrs[0].Unmap().AsSlice())
			}
		}
	}
	t.Skipf("no host name resolving only to loopback here (hostname %q): the row needs one (e.g. in /etc/hosts)", h)
	return "", nil
}

// TestReferenceNameResolvingToLoopback: a partner not configured as local
// (no allow_private_network) whose reference host is a name that resolves
// to loopback is refused at dial time: its reference service (which really
// listens there and would verify the user) is never contacted, the flow
// ends REFERENCE_UNAVAILABLE after one attempt with a detail naming the
// rule and the configured name (not the address), and the gateway's log
// names the rule without the partner user id.
func TestReferenceNameResolvingToLoopback(t *testing.T) {
	name, ip := loopbackName(t)
	var hits atomic.Int64
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	var ref []byte
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(api.ReferenceResponse{Image: ref})
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s := Start(t, func(c *gateway.Config) {
		p := &c.Partners[1] // PartnerB
		p.ReferenceURL = "http://" + net.JoinHostPort(name, port) + "/reference"
		p.CallbackURL = ""
		p.AllowPrivateNetwork = false
		p.InsecureAllowHTTP = true
	})
	user, selfie := s.Genuine(t)
	ref = Photo(t, references[user])
	f := s.InitiateFlowAs(t, PartnerB, user, NewCorrelation("ssrf-name"))
	if r := s.SignedSubmit(t, s.Device, f, selfie); r.Code != http.StatusAccepted {
		t.Fatalf("submit: %s", r)
	}
	d := s.WaitFinal(t, f)
	want := `address refused by rule loopback: host "` + name + `" resolves to a loopback address`
	if d.Status != api.StatusRejected || d.Reason != api.ReasonReferenceUnavailable || d.Detail != want {
		t.Errorf("decision %s/%s detail %q, want %s/%s %q", d.Status, d.Reason, d.Detail, api.StatusRejected, api.ReasonReferenceUnavailable, want)
	}
	if len(d.Attempts) != 1 || s.FlowSubmissions(t, PartnerB, f.CorrelationID) != 1 {
		t.Errorf("%d attempts, want 1", len(d.Attempts))
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback reference service was contacted %d times", n)
	}
	log, err := os.ReadFile(filepath.Join(s.Dir, "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "reference unavailable") && strings.Contains(line, f.CorrelationID) {
			found = strings.Contains(line, "rule=loopback")
			if strings.Contains(line, user) {
				t.Errorf("log line names the partner user id: %s", line)
			}
		}
	}
	if !found {
		t.Errorf("no reference-unavailable log line naming rule=loopback for %s", f.CorrelationID)
	}
}

// TestImageHostWithoutPortMatchesDefaultPortOnly: an image_hosts entry
// without a port ("127.0.0.1") does not let an image_url reach another
// service on that host at another port: the canary is never contacted
// and the detail says why.
func TestImageHostWithoutPortMatchesDefaultPortOnly(t *testing.T) {
	s := Start(t, func(c *gateway.Config) { c.Partners[1].ImageHosts = []string{"127.0.0.1"} })
	canary := NewCanary(t)
	s.Fake.SetReference(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(api.ReferenceResponse{ImageURL: canary.URL + "/reference.jpg"})
	})
	user, selfie := s.Genuine(t)
	f := s.InitiateFlowAs(t, PartnerB, user, NewCorrelation("ssrf-port"))
	if r := s.SignedSubmit(t, s.Device, f, selfie); r.Code != http.StatusAccepted {
		t.Fatalf("submit: %s", r)
	}
	d := s.WaitFinal(t, f)
	if d.Status != api.StatusRejected || d.Reason != api.ReasonReferenceUnavailable || !strings.Contains(d.Detail, "image_hosts") {
		t.Errorf("decision %s/%s detail %q, want %s/%s naming image_hosts", d.Status, d.Reason, d.Detail, api.StatusRejected, api.ReasonReferenceUnavailable)
	}
	if n := canary.Hits(); n != 0 {
		t.Errorf("the second loopback service was contacted %d times", n)
	}
}

// TestMetadataImageHostRefusedAtStart: a partner not configured as local
// whose image_hosts names the cloud metadata address cannot be configured:
// `facegateway serve` exits 2 (an invalid configuration) naming the key and
// the rule, before serving.
func TestMetadataImageHostRefusedAtStart(t *testing.T) {
	skipIfUnavailable(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gateway.toml")
	os.WriteFile(cfg, []byte(`listen = "127.0.0.1:0"
[database]
path = "`+filepath.Join(dir, "gw.db")+`"
[[partners]]
client_id = "bank"
passkey_hashes = ["`+gateway.HashPasskey("bank-passkey-0123456789")+`"]
reference_url = "https://partner.example/reference"
image_hosts = ["169.254.169.254"]
`), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatewayBin, "serve", "-config", cfg)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("serve: %v, want exit status 2\n%s", err, out)
	}
	for _, want := range []string{"partners[0].image_hosts[0]", "link-local", "allow_private_network"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("serve output does not name %q:\n%s", want, out)
		}
	}
}
