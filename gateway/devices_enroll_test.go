package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/gateway/testserver"
)

// TestEnrollConflictNamesCase: POST /v1/devices for an id registered with
// another key, or revoked, answers 409 device_conflict with a message
// naming which case applies and the operator command that resolves it, and
// never changes the stored key; after the operator's ReplaceDevice the new
// key enrolls as the existing device.
func TestEnrollConflictNamesCase(t *testing.T) {
	srv := testserver.Start(t, "")
	ctx := context.Background()
	key := func(seed byte) ed25519.PublicKey {
		return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)).Public().(ed25519.PublicKey)
	}
	oldKey, newKey := key(1), key(2)
	srv.AddDevice("kiosk-lost", oldKey)
	srv.AddDevice("kiosk-revoked", oldKey)
	if _, err := srv.Store.RevokeDevice(ctx, "kiosk-revoked", time.Now()); err != nil {
		t.Fatal(err)
	}
	enroll := func(t *testing.T, id string, pub ed25519.PublicKey) (int, api.Error) {
		t.Helper()
		b, _ := json.Marshal(api.RegisterDeviceRequest{DeviceID: id, PublicKey: base64.StdEncoding.EncodeToString(pub)})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+api.PathDevices, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testserver.EnrollToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e api.Error
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e
	}
	for _, tc := range []struct {
		name, id, want, notWant string
		stored                  ed25519.PublicKey
	}{
		{"another key", "kiosk-lost", "kiosk-lost is registered with another key", "revoked", oldKey},
		{"revoked", "kiosk-revoked", "kiosk-revoked is revoked", "another key", oldKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, e := enroll(t, tc.id, newKey)
			if code != http.StatusConflict || e.Code != api.CodeDeviceConflict ||
				!strings.Contains(e.Message, tc.want) || strings.Contains(e.Message, tc.notWant) ||
				!strings.Contains(e.Message, "facegateway devices replace") {
				t.Errorf("enroll = %d %+v; want 409 %s naming %q and `facegateway devices replace`", code, e, api.CodeDeviceConflict, tc.want)
			}
			d, err := srv.Store.DeviceByID(ctx, tc.id)
			if err != nil || !d.PublicKey.Equal(tc.stored) || !d.ReplacedAt.IsZero() {
				t.Errorf("enrollment changed the stored device: %+v %v", d, err)
			}
		})
	}
	if _, err := srv.Store.ReplaceDevice(ctx, "kiosk-revoked", newKey, time.Now()); err != nil {
		t.Fatal(err)
	}
	if code, e := enroll(t, "kiosk-revoked", newKey); code != http.StatusOK {
		t.Errorf("enroll after replace = %d %+v, want 200 (existing device)", code, e)
	}
}
