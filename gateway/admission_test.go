package gateway_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

func TestAdmitSubmission(t *testing.T) {
	sub := gateway.Submission{ID: "s", FlowID: "f", IdempotencyKey: "k", Fingerprint: []byte{1}, Attempt: 9,
		State: gateway.StateDone, Status: api.StatusVerified}
	for _, tc := range []struct {
		name        string
		flow        gateway.FlowAttempts
		max         int
		wantErr     error
		wantAttempt int
	}{
		{name: "first attempt", flow: gateway.FlowAttempts{}, max: 3, wantAttempt: 1},
		{name: "next after a done attempt", flow: gateway.FlowAttempts{Attempts: 1}, max: 3, wantAttempt: 2},
		{name: "last attempt", flow: gateway.FlowAttempts{Attempts: 2}, max: 3, wantAttempt: 3},
		{name: "attempts used", flow: gateway.FlowAttempts{Attempts: 3}, max: 3, wantErr: gateway.ErrAttemptsExhausted},
		{name: "over the limit lowered since", flow: gateway.FlowAttempts{Attempts: 4}, max: 3, wantErr: gateway.ErrAttemptsExhausted},
		{name: "exhausted wins over final", flow: gateway.FlowAttempts{Status: api.StatusRejected, Attempts: 3}, max: 3, wantErr: gateway.ErrAttemptsExhausted},
		{name: "final flow", flow: gateway.FlowAttempts{Status: api.StatusVerified, Attempts: 1}, max: 3, wantErr: gateway.ErrFlowFinal},
		{name: "final wins over in progress", flow: gateway.FlowAttempts{Status: api.StatusRejected, Attempts: 1, Open: 1}, max: 3, wantErr: gateway.ErrFlowFinal},
		{name: "earlier attempt pending", flow: gateway.FlowAttempts{Attempts: 1, Open: 1}, max: 3, wantErr: gateway.ErrInProgress},
		{name: "exhausted wins over in progress", flow: gateway.FlowAttempts{Attempts: 2, Open: 1}, max: 2, wantErr: gateway.ErrAttemptsExhausted},
		{name: "no attempts allowed", flow: gateway.FlowAttempts{}, max: 0, wantErr: gateway.ErrAttemptsExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gateway.AdmitSubmission(sub, tc.flow, tc.max)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || got.ID != "" {
					t.Fatalf("AdmitSubmission = %+v, %v; want %v", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Attempt != tc.wantAttempt || got.State != gateway.StatePending || got.Status != api.StatusProcessing {
				t.Errorf("admitted attempt %d state %q status %q; want %d pending %s",
					got.Attempt, got.State, got.Status, tc.wantAttempt, api.StatusProcessing)
			}
			if got.ID != sub.ID || got.FlowID != sub.FlowID || got.IdempotencyKey != sub.IdempotencyKey {
				t.Errorf("admitted %+v changed the request's fields", got)
			}
		})
	}
}

func TestReplaySubmission(t *testing.T) {
	stored := gateway.Submission{ID: "s1", FlowID: "f", Attempt: 1, IdempotencyKey: "k", Fingerprint: []byte{1, 2},
		State: gateway.StateDone, Status: api.StatusRejected}
	for _, tc := range []struct {
		name        string
		fingerprint []byte
		wantErr     error
	}{
		{name: "same selfie", fingerprint: []byte{1, 2}},
		{name: "other selfie", fingerprint: []byte{1, 3}, wantErr: gateway.ErrIdempotencyConflict},
		{name: "no fingerprint", fingerprint: nil, wantErr: gateway.ErrIdempotencyConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gateway.ReplaySubmission(stored, gateway.Submission{ID: "s2", FlowID: "f", IdempotencyKey: "k", Fingerprint: tc.fingerprint})
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && (got.ID != "s1" || got.Status != api.StatusRejected) {
				t.Errorf("replay = %+v, want the stored attempt", got)
			}
		})
	}
}

func TestReuseFlow(t *testing.T) {
	stored := gateway.Flow{ID: "f1", PartnerID: "p", CorrelationID: "c", PartnerUserID: "u", PartnerUserIDType: "account", Kind: api.FlowSelfie}
	for _, tc := range []struct {
		name    string
		edit    func(*gateway.Flow)
		wantErr bool
	}{
		{name: "same user and kind", edit: func(f *gateway.Flow) { f.ID = "f2" }},
		{name: "other user", edit: func(f *gateway.Flow) { f.PartnerUserID = "v" }, wantErr: true},
		{name: "other user id type", edit: func(f *gateway.Flow) { f.PartnerUserIDType = "phone" }, wantErr: true},
		{name: "other kind", edit: func(f *gateway.Flow) { f.Kind = api.FlowKTP }, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := stored
			tc.edit(&f)
			got, err := gateway.ReuseFlow(stored, f)
			if tc.wantErr {
				if !errors.Is(err, gateway.ErrCorrelationConflict) {
					t.Fatalf("err = %v, want ErrCorrelationConflict", err)
				}
				return
			}
			if err != nil || got.ID != "f1" {
				t.Fatalf("ReuseFlow = %+v, %v; want the stored flow", got, err)
			}
		})
	}
}

func TestReRegisterDevice(t *testing.T) {
	k1 := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	seed := make([]byte, 32)
	seed[0] = 1
	k2 := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	active := gateway.Device{ID: "kiosk-1", PublicKey: k1, Label: "lobby", CreatedAt: t0}
	revoked := active
	revoked.RevokedAt = t0.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		stored  gateway.Device
		key     ed25519.PublicKey
		wantErr error
	}{
		{name: "same key", stored: active, key: k1},
		{name: "other key", stored: active, key: k2, wantErr: gateway.ErrDeviceOtherKey},
		{name: "revoked, same key", stored: revoked, key: k1, wantErr: gateway.ErrDeviceRevoked},
		{name: "revoked, other key", stored: revoked, key: k2, wantErr: gateway.ErrDeviceRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gateway.ReRegisterDevice(tc.stored, gateway.Device{ID: "kiosk-1", PublicKey: tc.key, Label: "new", CreatedAt: t0.Add(time.Minute)})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !errors.Is(err, gateway.ErrDeviceConflict) {
					t.Fatalf("err = %v, want %v (an ErrDeviceConflict)", err, tc.wantErr)
				}
				return
			}
			if err != nil || got.Label != "lobby" || !got.CreatedAt.Equal(t0) {
				t.Fatalf("ReRegisterDevice = %+v, %v; want the stored device unchanged", got, err)
			}
		})
	}
}

func TestRegisteredDevice(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d := gateway.RegisteredDevice(gateway.Device{ID: "kiosk-1", Label: "x", CreatedAt: t0, RevokedAt: t0, ReplacedAt: t0})
	if d.Revoked() || !d.ReplacedAt.IsZero() || !d.CreatedAt.Equal(t0) || d.Label != "x" {
		t.Errorf("RegisteredDevice = %+v, want it registered at t0, not revoked nor replaced", d)
	}
}

// fakeAdmission is a gateway.AdmissionReader over fixed rows; it records
// what was read.
type fakeAdmission struct {
	flow    *gateway.FlowAttempts // nil: unknown flow
	byKey   map[string]gateway.Submission
	keyErr  error
	readKey bool
}

func (f *fakeAdmission) FlowAttempts(_ context.Context, _ string) (gateway.FlowAttempts, error) {
	if f.flow == nil {
		return gateway.FlowAttempts{}, gateway.ErrNotFound
	}
	return *f.flow, nil
}

func (f *fakeAdmission) SubmissionByKey(_ context.Context, _, key string) (gateway.Submission, error) {
	f.readKey = true
	if f.keyErr != nil {
		return gateway.Submission{}, f.keyErr
	}
	s, ok := f.byKey[key]
	if !ok {
		return gateway.Submission{}, gateway.ErrNotFound
	}
	return s, nil
}

func TestAdmit(t *testing.T) {
	done := gateway.Submission{ID: "s1", FlowID: "f", Attempt: 1, IdempotencyKey: "k1", Fingerprint: []byte{1},
		State: gateway.StateDone, Status: api.StatusRejected}
	final := gateway.FlowAttempts{Status: api.StatusRejected, Attempts: 1}
	open := gateway.FlowAttempts{Attempts: 1}
	errDisk := errors.New("disk on fire")
	for _, tc := range []struct {
		name        string
		r           fakeAdmission
		key         string
		fingerprint byte
		wantErr     error
		wantDup     bool
		wantAttempt int
		wantReadKey bool
	}{
		{name: "unknown flow", r: fakeAdmission{}, key: "k1", fingerprint: 1, wantErr: gateway.ErrNotFound},
		{name: "retry of a decided attempt of a final flow", r: fakeAdmission{flow: &final, byKey: map[string]gateway.Submission{"k1": done}},
			key: "k1", fingerprint: 1, wantDup: true, wantAttempt: 1, wantReadKey: true},
		{name: "key reused for another selfie", r: fakeAdmission{flow: &open, byKey: map[string]gateway.Submission{"k1": done}},
			key: "k1", fingerprint: 2, wantErr: gateway.ErrIdempotencyConflict, wantReadKey: true},
		{name: "new key on an open flow", r: fakeAdmission{flow: &open, byKey: map[string]gateway.Submission{"k1": done}},
			key: "k2", fingerprint: 2, wantAttempt: 2, wantReadKey: true},
		{name: "new key on a final flow", r: fakeAdmission{flow: &final}, key: "k2", fingerprint: 2,
			wantErr: gateway.ErrFlowFinal, wantReadKey: true},
		{name: "no key: not looked up", r: fakeAdmission{flow: &open, byKey: map[string]gateway.Submission{"": done}},
			fingerprint: 1, wantAttempt: 2},
		{name: "lookup fails", r: fakeAdmission{flow: &open, keyErr: errDisk}, key: "k2", fingerprint: 1,
			wantErr: errDisk, wantReadKey: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := gateway.Submission{ID: "new", FlowID: "f", IdempotencyKey: tc.key, Fingerprint: []byte{tc.fingerprint}}
			got, dup, err := gateway.Admit(context.Background(), &tc.r, sub, 3)
			if tc.r.readKey != tc.wantReadKey {
				t.Errorf("looked the key up: %v, want %v", tc.r.readKey, tc.wantReadKey)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || dup {
					t.Fatalf("Admit = %+v dup=%v %v; want %v", got, dup, err, tc.wantErr)
				}
				return
			}
			if err != nil || dup != tc.wantDup || got.Attempt != tc.wantAttempt {
				t.Fatalf("Admit = attempt %d dup=%v %v; want attempt %d dup=%v", got.Attempt, dup, err, tc.wantAttempt, tc.wantDup)
			}
			if dup && got.ID != "s1" || !dup && (got.ID != "new" || got.State != gateway.StatePending) {
				t.Errorf("Admit returned %+v", got)
			}
		})
	}
}
