package attack

import (
	"net/http"
	"testing"

	"github.com/faceverify/faceverify/agent/identity"
	"github.com/faceverify/faceverify/gateway/api"
)

// AssertUntouched checks that flow f is as initiated: PENDING with every
// attempt left, and no submission stored for it.
func (s *Stack) AssertUntouched(t testing.TB, f Flow) {
	t.Helper()
	r, st := s.Status(t, f.UserToken)
	if r.Code != http.StatusOK {
		t.Fatalf("status after the attack: %s", r)
	}
	if st.Status != api.StatusPending || st.AttemptsLeft != s.Config.Verification.MaxAttempts {
		t.Errorf("after the attack: status %s, attempts_left %d; want %s, %d", st.Status, st.AttemptsLeft, api.StatusPending, s.Config.Verification.MaxAttempts)
	}
	if n := s.FlowSubmissions(t, f.Partner, f.CorrelationID); n != 0 {
		t.Errorf("after the attack: %d submissions stored for %s, want 0", n, f.CorrelationID)
	}
}

// AssertStillWorks checks that a legitimate signed submission from dev on
// f is accepted afterwards as attempt 1 (nothing was counted before it)
// and stored once.
func (s *Stack) AssertStillWorks(t testing.TB, dev *identity.Identity, f Flow) {
	t.Helper()
	r := s.SignedSubmit(t, dev, f, FillerSelfie(t))
	if r.Code != http.StatusAccepted {
		t.Fatalf("legitimate submission afterwards: %s, want 202", r)
	}
	var sr api.SubmissionResponse
	decode(t, r, &sr)
	if sr.Attempt != 1 || sr.Duplicate {
		t.Errorf("legitimate submission afterwards: attempt %d duplicate %v, want attempt 1, not a duplicate", sr.Attempt, sr.Duplicate)
	}
	if n := s.FlowSubmissions(t, f.Partner, f.CorrelationID); n != 1 {
		t.Errorf("legitimate submission afterwards: %d submissions stored, want 1", n)
	}
}

// TestGenuineVerifies is the baseline every refusal is measured against:
// a genuine selfie from an enrolled kiosk is VERIFIED, once, and the
// sample partner process receives the signed callback.
func TestGenuineVerifies(t *testing.T) {
	s := Shared(t)
	user, selfie := s.Genuine(t)
	f := s.InitiateFlow(t, user, NewCorrelation("genuine"))
	r := s.SignedSubmit(t, s.Device, f, selfie)
	if r.Code != http.StatusAccepted {
		t.Fatalf("submit: %s", r)
	}
	d := s.WaitFinal(t, f)
	if d.Status != api.StatusVerified || len(d.Attempts) != 1 {
		t.Fatalf("genuine: %s/%s with %d attempts, want VERIFIED with 1", d.Status, d.Reason, len(d.Attempts))
	}
	// The callback reaches the real partner process, which verified its
	// signature before recording it.
	Eventually(t, decisionTimeout, "callback at the sample partner", func() bool {
		var st struct {
			CallbackReceived bool `json:"callback_received"`
		}
		resp, err := http.Get(s.PartnerURL + "/sessions/" + f.CorrelationID)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := jsonDecode(resp.Body, &st); err != nil {
			t.Fatal(err)
		}
		return st.CallbackReceived
	})
}

// TestUnsignedSubmission: with devices.require_signature (the default) a
// submission without the device headers is refused before its body is
// read, and costs the user nothing.
func TestUnsignedSubmission(t *testing.T) {
	s := Shared(t)
	f := s.InitiateFlow(t, "person_a", NewCorrelation("unsigned"))
	req := Submission(s.Device, FillerSelfie(t))
	body := mustJSON(t, req)
	r := s.Do(t, http.MethodPost, api.PathSubmissions, f.UserToken, jsonHeader(), body)
	if r.Code != http.StatusUnauthorized || r.APIError().Code != api.CodeSignatureRequired {
		t.Errorf("unsigned submission: %s, want 401 %s", r, api.CodeSignatureRequired)
	}
	s.AssertUntouched(t, f)
	s.AssertStillWorks(t, s.Device, f)
}

// TestBadSignatures: a signature is bound to the device, the flow and the
// exact body: one for another flow, a tampered body, or an unknown device
// is refused and costs nothing.
func TestBadSignatures(t *testing.T) {
	s := Shared(t)
	f := s.InitiateFlow(t, "person_a", NewCorrelation("badsig"))
	other := s.InitiateFlow(t, "person_a", NewCorrelation("badsig-other"))
	body := mustJSON(t, Submission(s.Device, FillerSelfie(t)))
	_, stranger := mustKey(t)
	for _, tc := range []struct {
		name   string
		header http.Header
		body   []byte
		status int
		code   string
	}{
		{"signed for another flow", s.SignedHeader(s.Device, other, body), body, http.StatusUnauthorized, api.CodeBadSignature},
		{"tampered body", s.SignedHeader(s.Device, f, body), append([]byte(" "), body...), http.StatusUnauthorized, api.CodeBadSignature},
		{"unregistered device", s.SignedHeader(identity.New(s.Device.DeviceID()+"-x", stranger), f, body), body, http.StatusForbidden, api.CodeUnknownDevice},
		{"registered id, other key", s.SignedHeader(identity.New(s.Device.DeviceID(), stranger), f, body), body, http.StatusUnauthorized, api.CodeBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do(t, http.MethodPost, api.PathSubmissions, f.UserToken, tc.header, tc.body)
			if r.Code != tc.status || r.APIError().Code != tc.code {
				t.Errorf("got %s, want %d %s", r, tc.status, tc.code)
			}
		})
	}
	s.AssertUntouched(t, f)
	s.AssertUntouched(t, other)
	s.AssertStillWorks(t, s.Device, f)
}

// TestRevokedDevice: a kiosk revoked by an operator (`facegateway devices
// revoke`) is refused even with a valid signature; another kiosk still
// works on the same flow.
func TestRevokedDevice(t *testing.T) {
	s := Shared(t)
	dev := s.NewDevice(t)
	f := s.InitiateFlow(t, "person_a", NewCorrelation("revoked"))
	s.RevokeDevice(t, dev.DeviceID())
	r := s.SignedSubmit(t, dev, f, FillerSelfie(t))
	if r.Code != http.StatusForbidden || r.APIError().Code != api.CodeRevokedDevice {
		t.Errorf("revoked device: %s, want 403 %s", r, api.CodeRevokedDevice)
	}
	s.AssertUntouched(t, f)
	s.AssertStillWorks(t, s.Device, f)
}
