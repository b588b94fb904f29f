package attack

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

// defaults puts back the default rate limits and lockout (the harness
// lifts them for the rows of other topics).
func defaults(c *gateway.Config) {
	d := gateway.DefaultConfig().Limits
	c.Limits.Rate, c.Limits.Lockout = d.Rate, d.Lockout
}

// slowRefill is defaults with the brute-force limits refilled at one
// request per 100 minutes instead, bursts unchanged, so what a row counts
// does not depend on how fast this machine sends (the refill itself is
// tested with an injected clock in gateway/bruteforce_test.go).
func slowRefill(c *gateway.Config) {
	defaults(c)
	for _, l := range []*gateway.RateLimit{&c.Limits.Rate.TokenClient, &c.Limits.Rate.TokenSource, &c.Limits.Rate.EnrollSource, &c.Limits.Rate.SubmitDevice} {
		l.PerMinute = 0.01
	}
}

// limited reports whether r is 429 rate_limited with a Retry-After of at
// least a second, repeated in the body.
func limited(r *Response) bool {
	e := r.APIError()
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	return r.Code == http.StatusTooManyRequests && e.Code == api.CodeRateLimited && err == nil && secs >= 1 && e.RetryAfterS == secs
}

// tally counts answers by status code.
func tally(codes map[int]int) string { return fmt.Sprint(codes) }

// TestBruteForcePasskeyOneSource: 550 wrong passkeys from one address (the
// issue's attack: all 401, then the right one worked) get 401 for the
// burst of 10, then 429 token_source; the right passkey is refused too,
// and a partner token issued before the attack keeps working.
func TestBruteForcePasskeyOneSource(t *testing.T) {
	s := Start(t, slowRefill)
	before := s.PartnerToken(t, PartnerA) // 1 of the source's 10
	codes := map[int]int{}
	for i := range 550 {
		r := s.PostJSON(t, api.PathToken, "", api.TokenRequest{ClientID: PartnerA, Passkey: fmt.Sprintf("guess-%04d-0123456789", i)})
		codes[r.Code]++
		if r.Code == http.StatusTooManyRequests && !limited(r) {
			t.Fatalf("guess %d: %s, want 429 rate_limited with Retry-After", i, r)
		}
	}
	if codes[http.StatusUnauthorized] != 9 || codes[http.StatusTooManyRequests] != 541 {
		t.Errorf("550 wrong passkeys: %s, want 9×401 then 541×429", tally(codes))
	}
	r := s.PostJSON(t, api.PathToken, "", api.TokenRequest{ClientID: PartnerA, Passkey: s.Passkeys[PartnerA]})
	if !limited(r) {
		t.Errorf("right passkey after the attack: %s, want 429", r)
	}
	if r := s.PostJSON(t, api.PathFlows, before, api.InitiateRequest{PartnerUserID: "person_a", PartnerUserIDType: "account",
		Flow: api.FlowSelfie, CorrelationID: NewCorrelation("bf-src")}); r.Code != http.StatusCreated {
		t.Errorf("partner token issued before the attack: %s, want 201", r)
	}
}

// TestBruteForcePasskeyManySources: 550 wrong passkeys from 550 addresses
// (behind a trusted proxy) for one client id get 401 for the client's
// burst of 20, then 429 token_client before any hash is computed; the
// right passkey is refused too (from a fresh address) until the bucket
// refills, while another partner still gets tokens.
func TestBruteForcePasskeyManySources(t *testing.T) {
	s := Start(t, func(c *gateway.Config) {
		slowRefill(c)
		c.Limits.Rate.TrustedProxies = []string{"127.0.0.1"}
	})
	n := 0
	post := func(clientID, passkey string) *Response {
		n++
		h := jsonHeader()
		h.Set("X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", n/250, n%250+1))
		return s.Do(t, http.MethodPost, api.PathToken, "", h, mustJSON(t, api.TokenRequest{ClientID: clientID, Passkey: passkey}))
	}
	codes := map[int]int{}
	start := time.Now()
	for i := range 550 {
		r := post(PartnerB, fmt.Sprintf("guess-%04d-0123456789", i))
		codes[r.Code]++
		if r.Code == http.StatusTooManyRequests && (!limited(r) || r.APIError().Message == "") {
			t.Fatalf("guess %d: %s, want 429 rate_limited", i, r)
		}
	}
	t.Logf("550 guesses from 550 addresses in %v: %s", time.Since(start).Round(time.Millisecond), tally(codes))
	if codes[http.StatusUnauthorized] != 20 || codes[http.StatusTooManyRequests] != 530 {
		t.Errorf("550 wrong passkeys: %s, want 20×401 then 530×429", tally(codes))
	}
	if r := post(PartnerB, s.Passkeys[PartnerB]); !limited(r) {
		t.Errorf("right passkey after the attack: %s, want 429", r)
	}
	if r := post(PartnerA, s.Passkeys[PartnerA]); r.Code != http.StatusOK {
		t.Errorf("another partner during the attack: %s, want 200", r)
	}
}

// TestBruteForceEnrollToken: enrollment-token guesses from one address get
// 401 for the burst of 10, then 429; the right token is refused too, and
// no device was registered.
func TestBruteForceEnrollToken(t *testing.T) {
	s := Start(t, slowRefill)
	devices := s.Count(t, "devices")
	req := api.RegisterDeviceRequest{DeviceID: "kiosk-guess", PublicKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
	codes := map[int]int{}
	for i := range 100 {
		codes[s.PostJSON(t, api.PathDevices, fmt.Sprintf("guess-%04d-0123456789", i), req).Code]++
	}
	if codes[http.StatusUnauthorized] != 10 || codes[http.StatusTooManyRequests] != 90 {
		t.Errorf("100 wrong enrollment tokens: %s, want 10×401 then 90×429", tally(codes))
	}
	if r := s.PostJSON(t, api.PathDevices, s.EnrollToken, req); !limited(r) {
		t.Errorf("right enrollment token after the attack: %s, want 429", r)
	}
	if n := s.Count(t, "devices"); n != devices {
		t.Errorf("%d devices after the attack, want %d", n, devices)
	}
}

// TestBruteForceImpostorFlows: the 20 impostor flows for one user
// stop after 5 failed attempts (FACE_MISMATCH, real models): a 6th flow is
// 423 user_locked with unlock_at (≤ 15 min away) and Retry-After, an open
// flow of that user takes no more submissions, and another user is not
// affected.
func TestBruteForceImpostorFlows(t *testing.T) {
	s := Start(t, defaults)
	open := s.InitiateFlow(t, "person_b", NewCorrelation("bf-open"))
	// Other people's photos that the models read well (each verifies as
	// its owner elsewhere in the suite).
	impostors := []string{"identity/person_a_02.jpg", "identity/person_a_03.jpg", "identity/person_a_04.jpg",
		"identity/person_d_02.jpg", "identity/person_a_01.jpg"}
	for i, photo := range impostors {
		f := s.InitiateFlow(t, "person_b", NewCorrelation(fmt.Sprintf("bf-impostor-%d", i)))
		if r := s.SignedSubmit(t, s.Device, f, Photo(t, photo)); r.Code != http.StatusAccepted {
			t.Fatalf("impostor %d: %s", i, r)
		}
		st := s.WaitAttempt(t, f)
		if st.Status != api.StatusRejected || (st.Reason != api.ReasonFaceMismatch && st.Reason != api.ReasonLivenessFailed) {
			t.Fatalf("impostor %d (%s): %s/%s, want REJECTED FACE_MISMATCH or LIVENESS_FAILED (a failed attempt)", i, photo, st.Status, st.Reason)
		}
	}
	locked := func(what string, r *Response) {
		t.Helper()
		e := r.APIError()
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if r.Code != http.StatusLocked || e.Code != api.CodeUserLocked || e.UnlockAt == nil || err != nil {
			t.Errorf("%s: %s, want 423 user_locked with unlock_at and Retry-After", what, r)
			return
		}
		if until := time.Until(*e.UnlockAt); until <= 0 || until > 15*time.Minute || secs < 1 || secs > 900 {
			t.Errorf("%s: unlock_at %v (in %v), Retry-After %d s; want within 15 min", what, e.UnlockAt, until, secs)
		}
	}
	for i := range 15 { // the flows 6 to 20
		locked(fmt.Sprintf("flow %d", 6+i), s.Initiate(t, PartnerA, api.InitiateRequest{PartnerUserID: "person_b",
			PartnerUserIDType: "account", Flow: api.FlowSelfie, CorrelationID: NewCorrelation("bf-locked")}))
	}
	locked("submission to the flow opened before", s.SignedSubmit(t, s.Device, open, FillerSelfie(t)))
	if n := s.FlowSubmissions(t, open.Partner, open.CorrelationID); n != 0 {
		t.Errorf("%d submissions stored for the open flow, want 0", n)
	}
	other := s.InitiateFlow(t, "person_a", NewCorrelation("bf-other"))
	s.AssertStillWorks(t, s.Device, other)
}

// TestBruteForceSubmissionsPerDevice: one kiosk sending submission after
// submission (over many flows) is 429 submit_device after its burst of 10,
// the flow it then tries is untouched, and another kiosk still works.
func TestBruteForceSubmissionsPerDevice(t *testing.T) {
	s := Start(t, slowRefill)
	dev := s.NewDevice(t)
	for i := range 10 { // undecodable selfies: refused 400 after the limit took its token
		f := s.InitiateFlow(t, fmt.Sprintf("flood-%d", i), NewCorrelation("bf-dev"))
		if r := s.SignedSubmit(t, dev, f, []byte("not an image")); r.Code != http.StatusBadRequest {
			t.Fatalf("submission %d: %s, want 400", i, r)
		}
	}
	f := s.InitiateFlow(t, "flood-x", NewCorrelation("bf-dev"))
	r := s.SignedSubmit(t, dev, f, FillerSelfie(t))
	if !limited(r) {
		t.Fatalf("11th submission of the device: %s, want 429 rate_limited", r)
	}
	s.AssertUntouched(t, f)
	s.AssertStillWorks(t, s.NewDevice(t), f)
}
