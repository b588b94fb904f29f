package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/uplink"
)

// TestWarmOpensTheConnectionTheUploadReuses: Warm asks for /healthz
// without credentials, any HTTP answer is success, and the next request
// of the client (the upload) goes over the same connection.
func TestWarmOpensTheConnectionTheUploadReuses(t *testing.T) {
	for _, code := range []int{http.StatusOK, http.StatusNotFound} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			type seen struct{ path, remote, auth string }
			reqs := make(chan seen, 2)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reqs <- seen{r.URL.Path, r.RemoteAddr, r.Header.Get("Authorization")}
				if r.URL.Path == PathHealthz {
					w.WriteHeader(code)
					w.Write([]byte("ok\n"))
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusAccepted)
				w.Write([]byte(`{"submission_id":"sub-1","attempt":1,"status":"PROCESSING"}`))
			}))
			defer srv.Close()
			c := New(Options{Transport: &http.Transport{}})
			if err := c.Warm(context.Background(), srv.URL+"/"); err != nil {
				t.Fatalf("Warm: %v", err)
			}
			if _, err := c.Submit(context.Background(), srv.URL, "tok", api.SubmissionRequest{Selfie: []byte{1}}, uplink.SubmitInfo{}); err != nil {
				t.Fatalf("Submit: %v", err)
			}
			warm, up := <-reqs, <-reqs
			if warm.path != PathHealthz || warm.auth != "" {
				t.Errorf("warm request %s with Authorization %q, want %s without", warm.path, warm.auth, PathHealthz)
			}
			if up.path != api.PathSubmissions || up.remote != warm.remote {
				t.Errorf("upload %s from %s, want %s over the warmed connection (%s)", up.path, up.remote, api.PathSubmissions, warm.remote)
			}
		})
	}
}

// TestWarmNetworkErrorIsTemporary: a gateway that cannot be reached is
// a temporary *uplink.Error.
func TestWarmNetworkErrorIsTemporary(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	err := New(Options{}).Warm(context.Background(), url)
	var ue *uplink.Error
	if !errors.As(err, &ue) || !ue.Temporary || ue.Op != "warm" {
		t.Errorf("Warm on a closed port: %v, want a temporary *uplink.Error of op warm", err)
	}
}
