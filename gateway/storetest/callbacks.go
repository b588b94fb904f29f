package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

// completeWith makes flow id final with a result carrying r's callback
// fields, processed at T0.
func completeWith(t *testing.T, s gateway.Store, id string, r gateway.Result) {
	t.Helper()
	Flow(t, s, id)
	decideWith(t, s, id, r)
}

// decideWith submits an attempt to open flow id (no other attempt may be
// pending) and completes it with r as final, processed at T0.
func decideWith(t *testing.T, s gateway.Store, id string, r gateway.Result) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.CreateSubmission(ctx, Sub(id, "s-"+id, ""), 3); err != nil {
		t.Fatal(err)
	}
	c, err := s.ClaimSubmission(ctx, "w-"+id, T0, T0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	r.SubmissionID, r.Owner, r.Status, r.ProcessedAt = c.ID, c.LeaseOwner, api.StatusVerified, T0
	r.Final, r.FlowStatus = true, api.StatusVerified
	if err := s.CompleteSubmission(ctx, r); err != nil {
		t.Fatal(err)
	}
}

// testCallbackDelivery: a queued callback keeps its delivery id and event
// through claims and failures (the store assigns an id when the result has
// none); the last error is kept while it fails and cleared once delivered;
// Callbacks lists rows newest first, by partner and state.
func testCallbackDelivery(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	completeWith(t, s, "f1", gateway.Result{Callback: []byte(`{"n":1}`), CallbackDeliveryID: "dlv_one", CallbackEvent: api.EventFlowCompleted})
	completeWith(t, s, "f2", gateway.Result{Callback: []byte(`{"n":2}`)})

	now := T0.Add(time.Second)
	j, err := s.ClaimCallback(ctx, now, now.Add(time.Minute))
	if err != nil || j.DeliveryID != "dlv_one" || j.Event != api.EventFlowCompleted || j.FlowID != "f1" || j.PartnerID != "p" {
		t.Fatalf("claim = %+v %v", j, err)
	}
	j2, err := s.ClaimCallback(ctx, now, now.Add(time.Minute))
	if err != nil || !strings.HasPrefix(j2.DeliveryID, "dlv_") || len(j2.DeliveryID) < 20 {
		t.Fatalf("store-assigned delivery id = %q (%v)", j2.DeliveryID, err)
	}
	if err := s.CallbackFailed(ctx, j.ID, now.Add(time.Second), "partner answered 503", false); err != nil {
		t.Fatal(err)
	}
	list, err := s.Callbacks(ctx, gateway.CallbackFilter{})
	if err != nil || len(list) != 2 || list[0].ID != j2.ID || list[1].ID != j.ID {
		t.Fatalf("Callbacks = %+v %v, want f2's then f1's", list, err)
	}
	got := list[1]
	if got.DeliveryID != "dlv_one" || got.State != gateway.CallbackPending || got.Attempts != 1 || got.LastError != "partner answered 503" ||
		got.FlowID != "f1" || got.PartnerID != "p" || got.Event != api.EventFlowCompleted || string(got.Body) != `{"n":1}` ||
		!got.CreatedAt.Equal(T0) || !got.NextAt.Equal(now.Add(time.Second)) || !got.DeliveredAt.IsZero() {
		t.Errorf("failed callback = %+v", got)
	}
	again, err := s.ClaimCallback(ctx, now.Add(time.Second), now.Add(time.Minute))
	if err != nil || again.ID != j.ID || again.DeliveryID != "dlv_one" || string(again.Body) != `{"n":1}` {
		t.Fatalf("retry = %+v %v: the delivery id must survive a failed delivery", again, err)
	}
	if err := s.CallbackDelivered(ctx, j.ID, now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	delivered, err := s.Callbacks(ctx, gateway.CallbackFilter{State: gateway.CallbackDelivered})
	if err != nil || len(delivered) != 1 || delivered[0].ID != j.ID {
		t.Fatalf("delivered = %+v %v", delivered, err)
	}
	if d := delivered[0]; d.LastError != "" || d.Attempts != 2 || !d.DeliveredAt.Equal(now.Add(2*time.Second)) {
		t.Errorf("after delivery: last_error %q, attempts %d, delivered_at %v; want \"\", 2, %v", d.LastError, d.Attempts, d.DeliveredAt, now.Add(2*time.Second))
	}
	if l, err := s.Callbacks(ctx, gateway.CallbackFilter{PartnerID: "other"}); err != nil || len(l) != 0 {
		t.Errorf("other partner's callbacks = %+v %v", l, err)
	}
	if l, err := s.Callbacks(ctx, gateway.CallbackFilter{PartnerID: "p", Limit: 1}); err != nil || len(l) != 1 || l[0].ID != j2.ID {
		t.Errorf("limit 1 = %+v %v", l, err)
	}
}

// testRedeliverCallback: an operator's redelivery re-queues a delivered or
// given-up callback with the same delivery id and body, attempts reset.
func testRedeliverCallback(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	completeWith(t, s, "f1", gateway.Result{Callback: []byte(`{"n":1}`), CallbackDeliveryID: "dlv_a", CallbackEvent: api.EventFlowCompleted})
	completeWith(t, s, "f2", gateway.Result{Callback: []byte(`{"n":2}`), CallbackDeliveryID: "dlv_b", CallbackEvent: api.EventFlowCompleted})
	a, _ := s.ClaimCallback(ctx, T0, T0.Add(time.Minute))
	b, _ := s.ClaimCallback(ctx, T0, T0.Add(time.Minute))
	if err := s.CallbackDelivered(ctx, a.ID, T0); err != nil {
		t.Fatal(err)
	}
	if err := s.CallbackFailed(ctx, b.ID, T0, "gave up", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimCallback(ctx, T0.Add(time.Hour), T0.Add(2*time.Hour)); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("claimed before redelivery: %v", err)
	}
	at := T0.Add(time.Hour)
	for _, tc := range []struct{ id, body string }{{"dlv_a", `{"n":1}`}, {"dlv_b", `{"n":2}`}} {
		r, err := s.RedeliverCallback(ctx, tc.id, at)
		if err != nil || r.DeliveryID != tc.id || r.State != gateway.CallbackPending || r.Attempts != 0 || r.Redeliveries != 1 ||
			!r.NextAt.Equal(at) || !r.DeliveredAt.IsZero() || string(r.Body) != tc.body {
			t.Errorf("RedeliverCallback(%s) = %+v %v", tc.id, r, err)
		}
	}
	seen := map[string]bool{}
	for range 2 {
		j, err := s.ClaimCallback(ctx, at, at.Add(time.Minute))
		if err != nil || j.Attempts != 0 {
			t.Fatalf("claim after redelivery = %+v %v", j, err)
		}
		seen[j.DeliveryID] = true
	}
	if !seen["dlv_a"] || !seen["dlv_b"] {
		t.Errorf("redelivered %v, want dlv_a and dlv_b", seen)
	}
	if _, err := s.RedeliverCallback(ctx, "dlv_missing", at); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("unknown delivery id: %v", err)
	}
	// Once retention emptied its body (it names the user), a callback
	// cannot be sent again.
	for _, id := range []string{"dlv_a", "dlv_b"} {
		j, err := s.ClaimCallback(ctx, at.Add(2*time.Minute), at.Add(3*time.Minute))
		if err != nil {
			t.Fatalf("claim %s: %v", id, err)
		}
		if err := s.CallbackDelivered(ctx, j.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Purge(ctx, gateway.PurgePolicy{CallbackBodiesBefore: at.Add(time.Second), Limit: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeliverCallback(ctx, "dlv_a", at); !errors.Is(err, gateway.ErrCallbackPurged) {
		t.Errorf("redelivering a purged callback: %v, want ErrCallbackPurged", err)
	}
}

// userToken stores a user token of flowID expiring at exp.
func userToken(t *testing.T, s gateway.Store, n byte, flowID string, exp time.Time) {
	t.Helper()
	if err := s.PutToken(context.Background(), gateway.Token{Hash: [32]byte{0xee, n}, Kind: gateway.TokenUser, PartnerID: "p", FlowID: flowID, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
}

// testFlowExpiry: a flow's deadline is its latest user token's expiry; an
// open flow past it with no submission in progress is expired once, with
// its callback; decided flows, flows before their deadline and flows with a
// submission in progress are not.
func testFlowExpiry(t *testing.T, db *DB) {
	s := db.Store()
	ctx := context.Background()
	exp := T0.Add(15 * time.Minute)
	f := Flow(t, s, "f1")
	if !f.ExpiresAt.IsZero() {
		t.Errorf("new flow ExpiresAt = %v, want zero until a token is issued", f.ExpiresAt)
	}
	userToken(t, s, 1, "f1", exp)
	userToken(t, s, 2, "f1", exp.Add(-time.Minute)) // an earlier token does not shorten it
	if got, _ := s.FlowByID(ctx, "f1"); !got.ExpiresAt.Equal(exp) {
		t.Fatalf("ExpiresAt = %v, want %v", got.ExpiresAt, exp)
	}
	Flow(t, s, "done") // decided before its deadline
	userToken(t, s, 4, "done", exp)
	decideWith(t, s, "done", gateway.Result{})
	Flow(t, s, "busy") // a submission in progress at its deadline
	userToken(t, s, 3, "busy", exp)
	if _, _, err := s.CreateSubmission(ctx, Sub("busy", "s-busy", ""), 3); err != nil {
		t.Fatal(err)
	}
	Flow(t, s, "later")
	userToken(t, s, 5, "later", exp.Add(time.Minute))

	if l, err := s.FlowsToExpire(ctx, exp.Add(-time.Millisecond), 10); err != nil || len(l) != 0 {
		t.Errorf("before the deadline: %+v %v", l, err)
	}
	l, err := s.FlowsToExpire(ctx, exp, 10)
	if err != nil || len(l) != 1 || l[0].ID != "f1" || !l[0].ExpiresAt.Equal(exp) {
		t.Fatalf("FlowsToExpire = %+v %v, want only f1", l, err)
	}
	if ok, err := s.ExpireFlow(ctx, "f1", exp.Add(-time.Millisecond), nil); ok || err != nil {
		t.Errorf("expired before its deadline: %v %v", ok, err)
	}
	if ok, err := s.ExpireFlow(ctx, "busy", exp, nil); ok || err != nil {
		t.Errorf("expired with a submission in progress: %v %v", ok, err)
	}
	if ok, err := s.ExpireFlow(ctx, "done", exp, nil); ok || err != nil {
		t.Errorf("expired a decided flow: %v %v", ok, err)
	}
	if _, err := s.ExpireFlow(ctx, "nope", exp, nil); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("unknown flow: %v", err)
	}
	cb := &gateway.NewCallback{DeliveryID: "dlv_exp", Event: api.EventFlowExpired, Body: []byte(`{"expired":1}`)}
	at := exp.Add(time.Second)
	if ok, err := s.ExpireFlow(ctx, "f1", at, cb); !ok || err != nil {
		t.Fatalf("ExpireFlow = %v %v", ok, err)
	}
	if ok, err := s.ExpireFlow(ctx, "f1", at, cb); ok || err != nil {
		t.Errorf("expired twice: %v %v", ok, err)
	}
	got, _ := s.FlowByID(ctx, "f1")
	if got.Status != api.StatusExpired || !got.Final() || !got.CompletedAt.Equal(at) {
		t.Errorf("expired flow = %+v", got)
	}
	userToken(t, s, 6, "f1", exp.Add(time.Hour)) // a token for a closed flow does not move its deadline
	if got, _ := s.FlowByID(ctx, "f1"); !got.ExpiresAt.Equal(exp) {
		t.Errorf("closed flow's ExpiresAt moved to %v", got.ExpiresAt)
	}
	if _, _, err := s.CreateSubmission(ctx, Sub("f1", "s-late", ""), 3); !errors.Is(err, gateway.ErrFlowFinal) {
		t.Errorf("submission to an expired flow: %v", err)
	}
	j, err := s.ClaimCallback(ctx, at, at.Add(time.Minute))
	if err != nil || j.DeliveryID != "dlv_exp" || j.Event != api.EventFlowExpired || j.FlowID != "f1" || j.PartnerID != "p" || string(j.Body) != `{"expired":1}` {
		t.Fatalf("expiry callback = %+v %v", j, err)
	}
	if _, err := s.ClaimCallback(ctx, at, at.Add(time.Minute)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("more than one callback queued: %v", err)
	}
	// Once its submission is decided (not final), the busy flow expires.
	c, err := s.ClaimSubmission(ctx, "w", at, at.Add(time.Minute))
	if err != nil || c.FlowID != "busy" {
		t.Fatalf("claim busy: %+v %v", c, err)
	}
	if err := s.CompleteSubmission(ctx, gateway.Result{SubmissionID: c.ID, Owner: c.LeaseOwner, Status: api.StatusRejected,
		Reason: api.ReasonNoFace, ProcessedAt: at}); err != nil {
		t.Fatal(err)
	}
	if l, err := s.FlowsToExpire(ctx, at, 10); err != nil || len(l) != 1 || l[0].ID != "busy" {
		t.Errorf("after its attempt was decided: %+v %v, want busy", l, err)
	}
}

// testConcurrentExpire: gateways on two handles expiring the same flows at
// once close each flow once and queue one callback per flow; and a
// submission racing an expiry either lands (the flow stays open) or is
// refused as final, never both.
func testConcurrentExpire(t *testing.T, db *DB) {
	s1, s2 := db.Store(), db.Store()
	ctx := context.Background()
	exp := T0.Add(15 * time.Minute)
	const n = 12
	for i := range n {
		id := fmt.Sprintf("f%d", i)
		Flow(t, s1, id)
		userToken(t, s1, byte(i), id, exp)
	}
	var closed atomic.Int32
	var wg sync.WaitGroup
	for w := range 4 {
		st := []gateway.Store{s1, s2}[w%2]
		wg.Go(func() {
			for i := range n {
				id := fmt.Sprintf("f%d", (i+w*3)%n)
				cb := &gateway.NewCallback{Event: api.EventFlowExpired, Body: []byte(id)}
				ok, err := st.ExpireFlow(ctx, id, exp, cb)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					closed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if closed.Load() != n {
		t.Errorf("%d flows closed, want %d (each once)", closed.Load(), n)
	}
	perFlow := map[string]int{}
	for {
		j, err := s2.ClaimCallback(ctx, exp, exp.Add(time.Minute))
		if errors.Is(err, gateway.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		perFlow[j.FlowID]++
	}
	if len(perFlow) != n {
		t.Errorf("callbacks for %d flows, want %d", len(perFlow), n)
	}
	for id, k := range perFlow {
		if k != 1 {
			t.Errorf("flow %s: %d callbacks", id, k)
		}
	}

	// Submissions racing expiries.
	for i := range n {
		id := fmt.Sprintf("r%d", i)
		Flow(t, s1, id)
		userToken(t, s1, byte(100+i), id, exp)
	}
	var mu sync.Mutex
	outcome := map[string][2]bool{} // flow → (submission landed, flow expired)
	for i := range n {
		id := fmt.Sprintf("r%d", i)
		wg.Go(func() {
			_, _, err := s1.CreateSubmission(ctx, Sub(id, "s-"+id, ""), 3)
			if err != nil && !errors.Is(err, gateway.ErrFlowFinal) {
				t.Error(err)
			}
			mu.Lock()
			o := outcome[id]
			o[0] = err == nil
			outcome[id] = o
			mu.Unlock()
		})
		wg.Go(func() {
			ok, err := s2.ExpireFlow(ctx, id, exp, nil)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			o := outcome[id]
			o[1] = ok
			outcome[id] = o
			mu.Unlock()
		})
	}
	wg.Wait()
	for id, o := range outcome {
		f, err := s1.FlowByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if o[0] == o[1] || (f.Status == api.StatusExpired) != o[1] {
			t.Errorf("flow %s: submission landed %v, expired %v, status %q: want exactly one", id, o[0], o[1], f.Status)
		}
	}
}
