package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/pgstore"
	"github.com/faceverify/faceverify/gateway/pgstore/pgstoretest"
	"github.com/faceverify/faceverify/gateway/sqlitestore"
)

// secretUser is a partner user id that must not appear in listings unless
// -show-user asks for it.
const secretUser = "user-secret-4242"

// seedCallbacks queues two callbacks in s: dlv_ok (partner acme, delivered
// after one failure) and dlv_bad (partner bank, given up).
func seedCallbacks(t *testing.T, s gateway.Store) {
	t.Helper()
	ctx := context.Background()
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for _, c := range []struct{ flow, partner, dlv string }{{"f1", "acme", "dlv_ok"}, {"f2", "bank", "dlv_bad"}} {
		if _, _, err := s.CreateFlow(ctx, gateway.Flow{ID: c.flow, PartnerID: c.partner, CorrelationID: "corr-" + c.flow,
			PartnerUserID: secretUser, PartnerUserIDType: "account", Kind: api.FlowSelfie, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CreateSubmission(ctx, gateway.Submission{ID: "s-" + c.flow, FlowID: c.flow, Fingerprint: []byte(c.flow),
			DeviceID: "d", Selfie: []byte("x"), SubmittedAt: t0}, 3); err != nil {
			t.Fatal(err)
		}
		sub, err := s.ClaimSubmission(ctx, "w", t0, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(api.Callback{DeliveryID: c.dlv, Event: api.EventFlowCompleted, PartnerID: c.partner,
			CorrelationID: "corr-" + c.flow, PartnerUserID: secretUser, Status: api.StatusVerified, CompletedAt: t0})
		if err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: sub.ID, Owner: sub.LeaseOwner, Status: api.StatusVerified,
			ProcessedAt: t0, Final: true, FlowStatus: api.StatusVerified, Callback: body, CallbackDeliveryID: c.dlv, CallbackEvent: api.EventFlowCompleted}); err != nil {
			t.Fatal(err)
		}
		j, err := s.ClaimCallback(ctx, t0, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CallbackFailed(ctx, j.ID, t0, "POST callback: partner answered 503 Service Unavailable", c.dlv == "dlv_bad"); err != nil {
			t.Fatal(err)
		}
		if c.dlv == "dlv_ok" {
			j, err := s.ClaimCallback(ctx, t0, t0.Add(time.Minute))
			if err != nil || j.DeliveryID != "dlv_ok" {
				t.Fatalf("retry claim %+v %v", j, err)
			}
			if err := s.CallbackDelivered(ctx, j.ID, t0.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// checkCallbacksCommand runs `facegateway callbacks` with db (the flags
// naming the database) over the seeded callbacks, then reopens the store
// with open to check the redelivery.
func checkCallbacksCommand(t *testing.T, db []string, open func() gateway.Store) {
	run := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errw bytes.Buffer
		code := realMain(append(append([]string{"callbacks"}, args...), db...), &out, &errw)
		return code, out.String(), errw.String()
	}
	steps := []struct {
		name       string
		args       []string
		wantCode   int
		want, not  []string // in / not in stdout
		wantStderr string
	}{
		{"list", []string{"list"}, 0,
			[]string{"DELIVERY", "dlv_ok", "acme", "flow.completed", "delivered", "dlv_bad", "bank", "failed", "partner answered 503", "corr-f1", "VERIFIED"},
			[]string{secretUser}, ""},
		{"delivered row has no last error", []string{"list", "-state", "delivered"}, 0, []string{"dlv_ok"}, []string{"dlv_bad", "503"}, ""},
		{"by partner", []string{"list", "-partner", "bank"}, 0, []string{"dlv_bad"}, []string{"dlv_ok"}, ""},
		{"show user on request", []string{"list", "-show-user"}, 0, []string{"USER", secretUser}, nil, ""},
		{"json hides the user", []string{"list", "-json"}, 0, []string{`"delivery_id":"dlv_ok"`, `"attempts":2`, `"delivered_at"`}, []string{secretUser}, ""},
		{"json shows the user on request", []string{"list", "-json", "-show-user"}, 0, []string{`"partner_user_id":"` + secretUser + `"`}, nil, ""},
		{"bad state", []string{"list", "-state", "lost"}, 2, nil, nil, "-state must be pending, delivered or failed"},
		{"redeliver without id", []string{"redeliver"}, 2, nil, nil, "-delivery is required"},
		{"redeliver unknown", []string{"redeliver", "-delivery", "dlv_nope"}, 1, nil, nil, `no callback with delivery id "dlv_nope"`},
		{"redeliver given up", []string{"redeliver", "-delivery", "dlv_bad"}, 0, []string{"dlv_bad queued again", "partner bank", "redelivery 1"}, nil, ""},
		{"redeliver delivered", []string{"redeliver", "-delivery", "dlv_ok"}, 0, []string{"dlv_ok queued again"}, nil, ""},
		{"list after redelivery", []string{"list", "-state", "pending"}, 0, []string{"dlv_bad", "dlv_ok", "0 (redelivered 1)"}, nil, ""},
		{"unknown command", []string{"purge"}, 2, nil, nil, "unknown command"},
	}
	for _, st := range steps {
		code, out, stderr := run(st.args...)
		if code != st.wantCode || !strings.Contains(stderr, st.wantStderr) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", st.name, code, stderr, st.wantCode, st.wantStderr)
		}
		for _, w := range st.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: stdout lacks %q:\n%s", st.name, w, out)
			}
		}
		for _, w := range st.not {
			if strings.Contains(out, w) {
				t.Errorf("%s: stdout shows %q:\n%s", st.name, w, out)
			}
		}
	}
	// The gateway's outbox sees both again, with their delivery ids and
	// bodies unchanged.
	s := open()
	defer s.Close()
	seen := map[string]bool{}
	for range 2 {
		j, err := s.ClaimCallback(context.Background(), time.Now().Add(time.Second), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatalf("claim redelivered: %v", err)
		}
		var cb api.Callback
		if err := json.Unmarshal(j.Body, &cb); err != nil || cb.DeliveryID != j.DeliveryID || j.Attempts != 0 {
			t.Errorf("redelivered job %+v: body delivery id %q (%v)", j, cb.DeliveryID, err)
		}
		seen[j.DeliveryID] = true
	}
	if !seen["dlv_ok"] || !seen["dlv_bad"] {
		t.Errorf("redelivered %v", seen)
	}
}

func TestCallbacksCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.db")
	open := func() gateway.Store {
		s, err := sqlitestore.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	seedCallbacks(t, s)
	s.Close()
	checkCallbacksCommand(t, []string{"-db", path}, open)
}

func TestCallbacksCommandOnPostgres(t *testing.T) {
	dsn := pgstoretest.DSN(t)
	open := func() gateway.Store {
		s, err := pgstore.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	seedCallbacks(t, s)
	s.Close()
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "dsn")
	write(t, dsnFile, dsn+"\n")
	cfg := filepath.Join(dir, "gw.toml")
	write(t, cfg, "[database]\ndriver = \"postgres\"\ndsn_file = \""+dsnFile+"\"\n")
	checkCallbacksCommand(t, []string{"-config", cfg}, open)
}
