package attack

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/gatewaytest"
)

// dbFiles reads the gateway's SQLite database, -wal and -shm as they are
// now: a copy, as an attacker with file access would take it.
func dbFiles(t testing.TB, s *Stack) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range []string{s.DBPath, s.DBPath + "-wal", s.DBPath + "-shm"} {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// TestSelfieNotInDatabaseFiles: a genuine selfie goes through the real
// gateway to a decision; neither a copy of the SQLite files taken as soon
// as it was accepted nor the files after the decision hold any 32 bytes
// of it. Control: the flow's correlation id, stored in clear, is found by
// reading the same copies.
func TestSelfieNotInDatabaseFiles(t *testing.T) {
	s := Shared(t)
	user, selfie := s.Genuine(t)
	f := s.InitiateFlow(t, user, NewCorrelation("erasure-scan"))
	r := s.SignedSubmit(t, s.Device, f, selfie)
	if r.Code != http.StatusAccepted {
		t.Fatalf("submit: %s", r)
	}
	during := dbFiles(t, s)
	d := s.WaitFinal(t, f)
	if d.Status != api.StatusVerified {
		t.Fatalf("genuine: %s/%s, want VERIFIED", d.Status, d.Reason)
	}
	after := dbFiles(t, s)
	for name, files := range map[string]map[string][]byte{"copy taken at acceptance": during, "files after the decision": after} {
		if runs := gatewaytest.Leaks(files, selfie); len(runs) > 0 {
			t.Errorf("%s: selfie bytes found %v", name, runs)
		}
		found := false
		for _, b := range files {
			found = found || bytes.Contains(b, []byte(f.CorrelationID))
		}
		if !found {
			t.Errorf("control: %s do not hold the correlation id, so the scan proves nothing", name)
		}
	}
	if n := s.Count(t, "submissions WHERE selfie IS NOT NULL AND flow_id IN (SELECT id FROM flows WHERE correlation_id = ?)", f.CorrelationID); n != 0 {
		t.Errorf("%d selfies still stored after the decision", n)
	}
}

// TestDatabaseFileModes: the gateway's database, -wal and -shm are 0600.
func TestDatabaseFileModes(t *testing.T) {
	s := Shared(t)
	s.InitiateFlow(t, "person_a", NewCorrelation("modes")) // a write: the WAL exists
	for _, p := range []string{s.DBPath, s.DBPath + "-wal", s.DBPath + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
			continue
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), st.Mode().Perm())
		}
	}
}

// eraseUser sends DELETE /v1/users/{user}?partner_user_id_type=account.
func eraseUser(t testing.TB, s *Stack, bearer, user string) (*Response, api.UserErasure) {
	t.Helper()
	r := s.Do(t, http.MethodDelete, "/v1/users/"+url.PathEscape(user)+"?partner_user_id_type=account", bearer, nil, nil)
	var out api.UserErasure
	if r.Code == http.StatusOK {
		decode(t, r, &out)
	}
	return r, out
}

// TestEraseUser: DELETE /v1/users erases the partner's records of that
// user (a decided flow with its submission and callback, an open flow
// whose token stops working) and nothing else; another partner, a user
// token, no token or an id full of SQL metacharacters erase nothing; a
// second DELETE is a no-op.
func TestEraseUser(t *testing.T) {
	s := Shared(t)
	user := "erase-" + randomHex(6)
	decided := s.InitiateFlow(t, user, NewCorrelation("erase-decided"))
	if r := s.SignedSubmit(t, s.Device, decided, FillerSelfie(t)); r.Code != http.StatusAccepted {
		t.Fatalf("submit: %s", r)
	}
	s.WaitFinal(t, decided) // no reference for this user: REFERENCE_UNAVAILABLE, final, with a callback
	open := s.InitiateFlow(t, user, NewCorrelation("erase-open"))
	bystander := s.InitiateFlow(t, user+"-x", NewCorrelation("erase-bystander"))
	otherPartner := s.InitiateFlowAs(t, PartnerB, user, NewCorrelation("erase-other"))
	allFlows := s.Count(t, "flows")

	for _, row := range []struct {
		name, bearer, user string
		code               int
	}{
		{"no token", "", user, http.StatusUnauthorized},
		{"user token", open.UserToken, user, http.StatusUnauthorized},
		{"other partner", s.PartnerToken(t, PartnerB), user + "-nobody", http.StatusOK},
		{"SQL metacharacters", s.PartnerToken(t, PartnerA), user + "' OR '1'='1", http.StatusOK},
		{"wildcards", s.PartnerToken(t, PartnerA), "%", http.StatusOK},
	} {
		r, got := eraseUser(t, s, row.bearer, row.user)
		if r.Code != row.code || got.Erased != (api.ErasedCounts{}) {
			t.Errorf("%s: %s, erased %+v; want %d and nothing erased", row.name, r, got.Erased, row.code)
		}
		if n := s.Count(t, "flows"); n != allFlows {
			t.Fatalf("%s: flows %d, want %d: something was erased", row.name, n, allFlows)
		}
	}

	r, got := eraseUser(t, s, s.PartnerToken(t, PartnerA), user)
	if r.Code != http.StatusOK || got.Erased.Flows != 2 || got.Erased.Submissions != 1 || got.Erased.Callbacks != 1 || got.Erased.Tokens != 2 {
		t.Fatalf("erase: %s %+v, want 2 flows, 1 submission, 1 callback, 2 user tokens", r, got.Erased)
	}
	if n := s.Count(t, "flows WHERE partner_id = ? AND partner_user_id = ?", PartnerA, user); n != 0 {
		t.Errorf("%d flows of the erased user left", n)
	}
	if r, _ := s.Status(t, open.UserToken); r.Code != http.StatusUnauthorized {
		t.Errorf("open flow's token after erasure: %s, want 401", r)
	}
	if r, _ := s.Details(t, PartnerA, decided.CorrelationID); r.Code != http.StatusNotFound {
		t.Errorf("details of the erased flow: %s, want 404", r)
	}
	for _, f := range []Flow{bystander, otherPartner} {
		if r, _ := s.Status(t, f.UserToken); r.Code != http.StatusOK {
			t.Errorf("%s (%s) after another user's erasure: %s", f.CorrelationID, f.Partner, r)
		}
	}
	if r, again := eraseUser(t, s, s.PartnerToken(t, PartnerA), user); r.Code != http.StatusOK || again.Erased != (api.ErasedCounts{}) {
		t.Errorf("second erase: %s %+v, want 200 and zeros", r, again.Erased)
	}
}
