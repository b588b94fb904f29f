package spool

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"slices"
	"testing"

	"github.com/faceverify/faceverify/gateway/gatewaytest"
)

// TestRecordExtras: a record keeps a submission's extra images raw after
// the selfie, and a record written before extras existed reads as before.
func TestRecordExtras(t *testing.T) {
	withExtras := req("k")
	withExtras.SelfieExtra = [][]byte{gatewaytest.PNG(gatewaytest.Green), bytes.Repeat([]byte{9}, 70<<10)}
	oneExtra := req("k")
	oneExtra.SelfieExtra = [][]byte{{1, 2, 3}}
	oldMeta, _ := json.Marshal(map[string]any{"base_url": "u", "token": "t", "request": map[string]any{"idempotency_key": "k", "device_id": "kiosk-1"}})
	old := binary.AppendUvarint(nil, uint64(len(oldMeta)))
	old = append(append(old, oldMeta...), gatewaytest.PNG(gatewaytest.Red)...)
	tests := []struct {
		name       string
		plain      []byte
		wantSelfie []byte
		wantExtras [][]byte
	}{
		{"two extras, one larger than the metadata limit", mustEncode(t, Record{BaseURL: "u", Token: "t", Request: withExtras}), withExtras.Selfie, withExtras.SelfieExtra},
		{"one extra", mustEncode(t, Record{BaseURL: "u", Token: "t", Request: oneExtra}), oneExtra.Selfie, oneExtra.SelfieExtra},
		{"no extras", mustEncode(t, Record{BaseURL: "u", Token: "t", Request: req("k")}), req("k").Selfie, nil},
		{"record from before extras", old, gatewaytest.PNG(gatewaytest.Red), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := decodePlain(tt.plain)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Request.Selfie, tt.wantSelfie) || !slices.EqualFunc(r.Request.SelfieExtra, tt.wantExtras, bytes.Equal) {
				t.Errorf("selfie %d bytes, extras %d; want %d, %d", len(r.Request.Selfie), len(r.Request.SelfieExtra), len(tt.wantSelfie), len(tt.wantExtras))
			}
		})
	}
	// Extra lengths past the bytes present are corrupt.
	bad, _ := json.Marshal(map[string]any{"base_url": "u", "token": "t", "request": map[string]any{"idempotency_key": "k"}, "extra_lens": []int{100}})
	p := append(binary.AppendUvarint(nil, uint64(len(bad))), bad...)
	if _, err := decodePlain(append(p, 1, 2, 3)); err == nil {
		t.Error("extra_lens past the end accepted")
	}
}

func mustEncode(t *testing.T, r Record) []byte {
	t.Helper()
	p, err := encodePlain(r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
