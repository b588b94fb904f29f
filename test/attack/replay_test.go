package attack

import (
	"bytes"
	"image"
	"image/jpeg"
	"net/http"
	"testing"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
)

// screenCopy is the photo as an attacker re-shoots it from a phone: mirrored
// (front cameras mirror), on a dark bezel with a margin of 1/10 of its
// longer side, re-encoded as JPEG quality 70.
func screenCopy(t testing.TB, photo []byte) []byte {
	t.Helper()
	img, err := inference.Decode(bytes.NewReader(photo), 40_000_000)
	if err != nil {
		t.Fatal(err)
	}
	src := inference.ToOpaqueRGBA(img, nil)
	w, h := src.Rect.Dx(), src.Rect.Dy()
	m := max(w, h) / 10
	dst := image.NewRGBA(image.Rect(0, 0, w+2*m, h+2*m))
	for i := 0; i < len(dst.Pix); i += 4 {
		dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = 20, 20, 24, 255
	}
	for y := range h {
		for x := range w {
			dst.SetRGBA(m+w-1-x, m+y, src.RGBAAt(x, y))
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, dst, &jpeg.Options{Quality: 70}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestReplayedImages: the partner's reference image submitted as the
// selfie, and an edited copy of it, are REJECTED with REFERENCE_REPLAY; a
// selfie that VERIFIED one user is REJECTED with SUBMISSION_REPLAY when it
// comes back in another user's flow. Each decision is final after one
// attempt, nothing is counted twice, and the refusals are counted as
// injection attacks. A private stack, so no other row's selfie is on file.
func TestReplayedImages(t *testing.T) {
	s := Start(t, nil)
	rows := []struct {
		name, user string
		selfie     []byte
		want       string
	}{
		{"reference image as the selfie", "person_a", Photo(t, references["person_a"]), api.ReasonReferenceReplay},
		{"mirrored, framed and re-compressed reference", "person_b", screenCopy(t, Photo(t, references["person_b"])), api.ReasonReferenceReplay},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			f := s.InitiateFlow(t, row.user, NewCorrelation("replay"))
			if r := s.SignedSubmit(t, s.Device, f, row.selfie); r.Code != http.StatusAccepted {
				t.Fatalf("submit: %s", r)
			}
			d := s.WaitFinal(t, f)
			if d.Status != api.StatusRejected || d.Reason != row.want {
				t.Errorf("decision %s/%s, want %s/%s", d.Status, d.Reason, api.StatusRejected, row.want)
			}
			if len(d.Attempts) != 1 || s.FlowSubmissions(t, PartnerA, f.CorrelationID) != 1 {
				t.Errorf("%d attempts (%d stored), want 1", len(d.Attempts), s.FlowSubmissions(t, PartnerA, f.CorrelationID))
			}
		})
	}

	t.Run("selfie of another user's flow", func(t *testing.T) {
		user, selfie := s.Genuine(t)
		first := s.InitiateFlow(t, user, NewCorrelation("replay-first"))
		if r := s.SignedSubmit(t, s.Device, first, selfie); r.Code != http.StatusAccepted {
			t.Fatalf("submit: %s", r)
		}
		if d := s.WaitFinal(t, first); d.Status != api.StatusVerified {
			t.Fatalf("the original: %s/%s, want VERIFIED", d.Status, d.Reason)
		}
		// The same bytes, in a flow of another user at the other partner.
		hits := s.Fake.ReferenceHits()
		again := s.InitiateFlowAs(t, PartnerB, "person_c", NewCorrelation("replay-again"))
		if r := s.SignedSubmit(t, s.Device, again, selfie); r.Code != http.StatusAccepted {
			t.Fatalf("submit: %s", r)
		}
		d := s.WaitFinal(t, again)
		if d.Status != api.StatusRejected || d.Reason != api.ReasonSubmissionReplay || len(d.Attempts) != 1 {
			t.Errorf("replayed selfie: %s/%s with %d attempts, want %s/%s with 1", d.Status, d.Reason, len(d.Attempts), api.StatusRejected, api.ReasonSubmissionReplay)
		}
		// Fetched once at initiation (in the background), never again
		// for the replayed selfie.
		if n := s.Fake.ReferenceHits() - hits; n > 1 {
			t.Errorf("the reference was fetched %d times for a flow whose selfie was replayed, want at most 1 (at initiation)", n)
		}
	})

	r := s.Do(t, http.MethodGet, "/metrics", "", nil, nil)
	for _, want := range []string{
		`faceverify_gateway_injection_attacks_total{kind="reference_replay"} 2`,
		`faceverify_gateway_injection_attacks_total{kind="submission_replay"} 1`,
	} {
		if !bytes.Contains(r.Body, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestReplayedSignature: the exact resend of a signed submission (the
// agent's retry after a lost answer) gets the original answer and costs
// nothing; the same signed request replayed into another flow with the
// same correlation id (the other partner's) is refused with 401
// signature_replayed, and that flow keeps every attempt.
func TestReplayedSignature(t *testing.T) {
	s := Shared(t)
	corr := NewCorrelation("sig-replay")
	f := s.InitiateFlow(t, "person_a", corr)
	req := Submission(s.Device, FillerSelfie(t))
	body := mustJSON(t, req)
	h := s.SignedHeader(s.Device, f, body)
	h.Set("Idempotency-Key", req.IdempotencyKey)

	first := s.Do(t, http.MethodPost, api.PathSubmissions, f.UserToken, h, body)
	if first.Code != http.StatusAccepted {
		t.Fatalf("first: %s", first)
	}
	var sr api.SubmissionResponse
	decode(t, first, &sr)
	resend := s.Do(t, http.MethodPost, api.PathSubmissions, f.UserToken, h, body)
	var again api.SubmissionResponse
	if resend.Code != http.StatusOK {
		t.Fatalf("exact resend: %s, want 200 with the original attempt", resend)
	}
	decode(t, resend, &again)
	if !again.Duplicate || again.SubmissionID != sr.SubmissionID || again.Attempt != 1 {
		t.Errorf("exact resend answered %+v, want the original %+v as a duplicate", again, sr)
	}
	if n := s.FlowSubmissions(t, PartnerA, corr); n != 1 {
		t.Errorf("%d submissions stored after the resend, want 1", n)
	}

	other := s.InitiateFlowAs(t, PartnerB, "person_b", corr)
	r := s.Do(t, http.MethodPost, api.PathSubmissions, other.UserToken, h, body)
	if r.Code != http.StatusUnauthorized || r.APIError().Code != api.CodeSignatureReplayed {
		t.Errorf("signature replayed into another flow: %s, want 401 %s", r, api.CodeSignatureReplayed)
	}
	s.AssertUntouched(t, other)
	s.AssertStillWorks(t, s.Device, other)
}

// TestSignedSubmissionWithoutIdempotencyKey: a signed submission must carry
// its idempotency key in the signed body; without it (or with it only in
// the unsigned header, where a replay could change it) the request is
// refused with 400 idempotency_key_required and costs no attempt.
func TestSignedSubmissionWithoutIdempotencyKey(t *testing.T) {
	s := Shared(t)
	f := s.InitiateFlow(t, "person_a", NewCorrelation("no-idem"))
	for _, header := range []string{"", "idem-header-only"} {
		req := Submission(s.Device, FillerSelfie(t))
		req.IdempotencyKey = ""
		body := mustJSON(t, req)
		h := s.SignedHeader(s.Device, f, body)
		if header != "" {
			h.Set("Idempotency-Key", header)
		}
		r := s.Do(t, http.MethodPost, api.PathSubmissions, f.UserToken, h, body)
		if r.Code != http.StatusBadRequest || r.APIError().Code != api.CodeIdempotencyKeyRequired {
			t.Errorf("header %q: %s, want 400 %s", header, r, api.CodeIdempotencyKeyRequired)
		}
	}
	s.AssertUntouched(t, f)
	s.AssertStillWorks(t, s.Device, f)
}
