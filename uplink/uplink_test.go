package uplink

import (
	"errors"
	"fmt"
	"net"
	"testing"
)

func TestErrorCode(t *testing.T) {
	conflict := &Error{Op: "submit", StatusCode: 409, Code: "flow_final", Err: ErrConflict}
	cases := []struct {
		name      string
		err       error
		wantCode  string
		wantClass Class
	}{
		{"nil", nil, "", ClassNone},
		{"gateway error", conflict, "flow_final", ClassConflict},
		{"wrapped by the spool", fmt.Errorf("delivery refused: %w", conflict), "flow_final", ClassConflict},
		{"device refused", &Error{StatusCode: 403, Code: "unknown_device", Err: ErrUnauthorized}, "unknown_device", ClassUnauthorized},
		{"network error", &Error{Op: "submit", Temporary: true, Err: errors.New("connection refused")}, "", ClassTemporary},
		{"not a gateway error", errors.New("boom"), "", ClassPermanent},
		{"bare net.Error", fmt.Errorf("post: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), "", ClassTemporary},
		{"bare DNS error", &net.DNSError{Err: "no such host", Name: "gw.example"}, "", ClassTemporary},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ErrorCode(tc.err); got != tc.wantCode {
				t.Errorf("ErrorCode = %q, want %q", got, tc.wantCode)
			}
			if got := Classify(tc.err); got != tc.wantClass {
				t.Errorf("Classify = %v, want %v", got, tc.wantClass)
			}
		})
	}
}
