package identity

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
	"github.com/faceverify/faceverify/gateway/testserver"
	"github.com/faceverify/faceverify/uplink"
	gwclient "github.com/faceverify/faceverify/uplink/gateway"
)

func TestLoadOrCreateKeepsTheKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "device.key")
	a, created, err := LoadOrCreate(path, "k1")
	if err != nil || !created {
		t.Fatalf("first start: created=%v err=%v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v err %v, want 0600", st.Mode().Perm(), err)
	}
	if dst, _ := os.Stat(filepath.Dir(path)); dst.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want 0700", dst.Mode().Perm())
	}
	b, created, err := LoadOrCreate(path, "k1")
	if err != nil || created {
		t.Fatalf("second start: created=%v err=%v", created, err)
	}
	if !a.PublicKey().Equal(b.PublicKey()) {
		t.Error("key changed across restarts")
	}
	if len(a.PublicKeyBase64()) != 44 || !strings.HasPrefix(a.Fingerprint(), "SHA256:") {
		t.Errorf("public key %q fingerprint %q", a.PublicKeyBase64(), a.Fingerprint())
	}
}

func TestLoadRefusesBadKeyFiles(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"world readable", "", 0o644, "must not be accessible"},
		{"not pem", "hello", 0o600, "not a PEM"},
		{"garbage pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0o600, "device key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if tc.content == "" {
				if _, _, err := LoadOrCreate(p, "k1"); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(p, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tc.mode)
			before, _ := os.ReadFile(p)
			_, _, err := LoadOrCreate(p, "k1")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			if after, _ := os.ReadFile(p); string(after) != string(before) {
				t.Error("a bad key file was replaced")
			}
		})
	}
}

// submitter is the agent's gateway client signing with id at now.
func submitter(id *Identity, now func() time.Time) uplink.Submitter {
	return gwclient.New(gwclient.Options{Signer: id, Now: now})
}

func selfie(key string) api.SubmissionRequest {
	return api.SubmissionRequest{Selfie: gatewaytest.PNG(gatewaytest.Red), DeviceID: "kiosk-1", IdempotencyKey: key,
		DeviceLiveness: api.DeviceLiveness{Score: 0.9, Live: true, Model: "m"}}
}

func newID(t *testing.T, dev string) *Identity {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return New(dev, k)
}

func TestGatewayVerifiesDeviceSignatures(t *testing.T) {
	srv := testserver.Start(t, "", func(c *gateway.Config) { c.Devices.RequireSignature = true })
	good := newID(t, "kiosk-1")
	if _, created, err := Enroll(context.Background(), nil, srv.URL, testserver.EnrollToken, "lobby", good); err != nil || !created {
		t.Fatalf("enroll: created=%v err=%v", created, err)
	}
	revoked := newID(t, "kiosk-1")
	revoked.deviceID = "kiosk-r"
	srv.AddDevice("kiosk-r", revoked.PublicKey())
	if _, err := srv.Store.RevokeDevice(context.Background(), "kiosk-r", time.Now()); err != nil {
		t.Fatal(err)
	}
	stranger := newID(t, "kiosk-1") // same id, unregistered key
	unknown := newID(t, "kiosk-x")

	cases := []struct {
		name   string
		sub    uplink.Submitter
		req    func(api.SubmissionRequest) api.SubmissionRequest
		corr   string // "" = the flow's
		code   string // "" = accepted
		status int
	}{
		{name: "signed by enrolled device", sub: submitter(good, nil)},
		{name: "unsigned", sub: gwclient.New(gwclient.Options{}), code: api.CodeSignatureRequired, status: 401},
		{name: "unknown device", sub: submitter(unknown, nil), req: func(r api.SubmissionRequest) api.SubmissionRequest { r.DeviceID = "kiosk-x"; return r }, code: api.CodeUnknownDevice, status: 403},
		{name: "revoked device", sub: submitter(revoked, nil), req: func(r api.SubmissionRequest) api.SubmissionRequest { r.DeviceID = "kiosk-r"; return r }, code: api.CodeRevokedDevice, status: 403},
		{name: "wrong key for the id", sub: submitter(stranger, nil), code: api.CodeBadSignature, status: 401},
		{name: "signed for another flow", sub: submitter(good, nil), corr: "other-flow", code: api.CodeBadSignature, status: 401},
		{name: "clock 10 minutes behind", sub: submitter(good, func() time.Time { return time.Now().Add(-10 * time.Minute) }), code: api.CodeClockSkew, status: 401},
		{name: "body device differs", sub: submitter(good, nil), req: func(r api.SubmissionRequest) api.SubmissionRequest { r.DeviceID = "kiosk-2"; return r }, code: api.CodeBadSignature, status: 401},
		{name: "body changed after signing", sub: gwclient.New(gwclient.Options{Signer: good, Transport: tamper{}}), code: api.CodeBadSignature, status: 401},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			corr := "corr-" + string(rune('a'+i))
			tok, flowID := srv.Flow(corr)
			if tc.corr != "" {
				corr = tc.corr
			}
			req := selfie("key-1")
			if tc.req != nil {
				req = tc.req(req)
			}
			_, err := tc.sub.Submit(context.Background(), srv.URL, tok, req, uplink.SubmitInfo{CorrelationID: corr})
			n := len(srv.Submissions(flowID))
			if tc.code == "" {
				if err != nil || n != 1 {
					t.Fatalf("err %v, %d submissions; want accepted once", err, n)
				}
				return
			}
			var ue *uplink.Error
			if !errors.As(err, &ue) || ue.Code != tc.code || ue.StatusCode != tc.status {
				t.Fatalf("err = %v, want HTTP %d %s", err, tc.status, tc.code)
			}
			if n != 0 {
				t.Errorf("%d submissions stored for a refused request", n)
			}
		})
	}
}

// tamper flips the last byte of the JSON body's selfie after signing.
type tamper struct{}

func (tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	b := make([]byte, r.ContentLength)
	if _, err := r.Body.Read(b); err != nil && len(b) == 0 {
		return nil, err
	}
	i := strings.Index(string(b), `"device_id"`)
	b[i-3] ^= 1 // inside the base64 selfie
	r2 := r.Clone(r.Context())
	r2.Body = nopCloser{strings.NewReader(string(b))}
	return http.DefaultTransport.RoundTrip(r2)
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

func TestEnrollment(t *testing.T) {
	srv := testserver.Start(t, "")
	id := newID(t, "kiosk-e")
	ctx := context.Background()
	if _, created, err := Enroll(ctx, nil, srv.URL, testserver.EnrollToken, "", id); err != nil || !created {
		t.Fatalf("first: created=%v err=%v", created, err)
	}
	resp, created, err := Enroll(ctx, nil, srv.URL, testserver.EnrollToken, "", id)
	if err != nil || created || resp.Fingerprint != id.Fingerprint() {
		t.Fatalf("again with the same key: %+v created=%v err=%v", resp, created, err)
	}
	other := newID(t, "kiosk-e")
	cases := []struct {
		name   string
		token  string
		id     *Identity
		status int
		code   string
	}{
		{"another key for the id", testserver.EnrollToken, other, 409, api.CodeDeviceConflict},
		{"wrong enrollment token", "not-the-token-000000", newID(t, "kiosk-f"), 401, api.CodeInvalidToken},
		{"bad device id", testserver.EnrollToken, newID(t, "kiosk/1"), 400, api.CodeBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Enroll(ctx, nil, srv.URL, tc.token, "", tc.id)
			var ee *EnrollError
			if !errors.As(err, &ee) || ee.StatusCode != tc.status || ee.Code != tc.code {
				t.Errorf("err = %v, want %d %s", err, tc.status, tc.code)
			}
		})
	}
	off := testserver.Start(t, "", func(c *gateway.Config) { c.Devices.EnrollToken = "" })
	_, _, err = Enroll(ctx, nil, off.URL, "anything-long-enough", "", id)
	var ee *EnrollError
	if !errors.As(err, &ee) || ee.Code != api.CodeEnrollDisabled {
		t.Errorf("enrollment disabled: err = %v", err)
	}
}

func TestUnsignedAcceptedWhenNotRequired(t *testing.T) {
	srv := testserver.Start(t, "", func(c *gateway.Config) { c.Devices.RequireSignature = false })
	tok, flowID := srv.Flow("c1")
	if _, err := gwclient.New(gwclient.Options{}).Submit(context.Background(), srv.URL, tok, selfie("k"), uplink.SubmitInfo{}); err != nil {
		t.Fatal(err)
	}
	// A present but invalid signature is refused even then.
	tok2, flow2 := srv.Flow("c2")
	_, err := submitter(newID(t, "kiosk-1"), nil).Submit(context.Background(), srv.URL, tok2, selfie("k"), uplink.SubmitInfo{CorrelationID: "c2"})
	var ue *uplink.Error
	if !errors.As(err, &ue) || ue.Code != api.CodeUnknownDevice {
		t.Errorf("unknown device with require_signature=false: %v", err)
	}
	if n1, n2 := len(srv.Submissions(flowID)), len(srv.Submissions(flow2)); n1 != 1 || n2 != 0 {
		t.Errorf("submissions %d, %d; want 1, 0", n1, n2)
	}
}
