package gateway_test

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
)

// TestLockoutSurvivesErasure: a locked user erased by the partner stays
// locked (423 with the same unlock_at) although the failures the lockout
// counted are gone, the database files do not name the user, the lock
// ends on time, and the retention purge then deletes the held lock. A
// user erased while not locked is not locked.
func TestLockoutSurvivesErasure(t *testing.T) {
	e := newEnv(t)
	mismatchEnv(e)
	ptok := e.partnerToken()
	const victim = "victim-4711-0815-locked-user"
	for i := range 5 {
		tok, _ := e.initiate(victim)
		if st := e.attempt(tok, gatewaytest.Red, "k"); st.Reason != api.ReasonFaceMismatch {
			t.Fatalf("impostor flow %d: %+v", i, st)
		}
	}
	a := initiateAnswer(t, e.url, ptok, victim)
	if a.code != http.StatusLocked || a.err.UnlockAt == nil {
		t.Fatalf("before erasure: %d %s, want 423", a.code, a.body)
	}
	until := *a.err.UnlockAt
	if code, got, ae := e.eraseUser(ptok, victim, "account"); code != 200 || got.Erased.Flows != 5 {
		t.Fatalf("erase: %d %+v %+v", code, got, ae)
	}
	wantLocked(t, "new flow after erasure", initiateAnswer(t, e.url, ptok, victim), until, e.clock.Now())
	if code, got, _ := e.eraseUser(ptok, victim, "account"); code != 200 || got.Erased.Flows != 0 {
		t.Fatalf("second erase: %d %+v", code, got)
	}
	wantLocked(t, "new flow after a second erasure", initiateAnswer(t, e.url, ptok, victim), until, e.clock.Now())
	for name, b := range sqliteFiles(t, e.dbPath) {
		if bytes.Contains(b, []byte(victim)) {
			t.Errorf("%s holds the erased user's id", name)
		}
	}
	// Another user erased while not locked stays unlocked.
	e.initiate("bystander")
	e.eraseUser(ptok, "bystander", "account")
	if a := initiateAnswer(t, e.url, ptok, "bystander"); a.code != http.StatusCreated {
		t.Errorf("bystander after erasure: %d %s", a.code, a.body)
	}

	ctx := context.Background()
	if _, err := e.gw.PurgeOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, e, "user_locks"); n != 1 {
		t.Errorf("held locks before unlock_at: %d, want 1", n)
	}
	e.clock.Advance(until.Sub(e.clock.Now()) + time.Second)
	if a := initiateAnswer(t, e.url, ptok, victim); a.code != http.StatusCreated {
		t.Errorf("after unlock_at: %d %s, want 201", a.code, a.body)
	}
	if _, err := e.gw.PurgeOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, e, "user_locks"); n != 0 {
		t.Errorf("held locks after unlock_at and a purge: %d, want 0", n)
	}
}

// countRows counts the rows of table in the env's SQLite database.
func countRows(t *testing.T, e *env, table string) int {
	t.Helper()
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
