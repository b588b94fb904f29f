package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/faceverify/faceverify/gateway/mqttapi"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newTestServer(t testing.TB, secret []byte) *Server {
	t.Helper()
	s, err := New(Options{Broker: "tcp://127.0.0.1:1", Prefix: "fv", CommandSecret: secret,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func event(seq uint64, state string) []byte {
	b, _ := json.Marshal(map[string]any{"v": 1, "device_id": "k1", "seq": seq, "time": t0, "session_id": "s",
		"correlation_id": "c", "state": state, "attempt": 1})
	return b
}

// restartEvent is the first event an agent sends after an unclean stop:
// its sequence jumped and it says so.
func restartEvent(seq uint64, state string) []byte {
	b, _ := json.Marshal(map[string]any{"v": 1, "device_id": "k1", "seq": seq, "time": t0, "session_id": "s2",
		"correlation_id": "c2", "state": state, "attempt": 1, "gap": "restart"})
	return b
}

func TestApply(t *testing.T) {
	s := newTestServer(t, nil)
	steps := []struct {
		name    string
		topic   string
		payload string
		changed bool
		check   func(t *testing.T, d Device)
	}{
		{"online", "fv/k1/status", `{"v":1,"device_id":"k1","state":"online","time":"2025-06-01T12:00:00Z","version":"1.2"}`, true,
			func(t *testing.T, d Device) {
				if d.Status != "online" || d.Version != "1.2" || d.Since == nil || !d.Since.Equal(t0) || d.OfflineSince != nil {
					t.Errorf("%+v", d)
				}
			}},
		{"event 1", "fv/k1/events", string(event(1, "capturing")), true,
			func(t *testing.T, d Device) {
				if d.LastEvent == nil || d.LastEvent.State != "capturing" || d.Events != 1 {
					t.Errorf("%+v", d)
				}
			}},
		{"duplicate dropped", "fv/k1/events", string(event(1, "capturing")), true,
			func(t *testing.T, d Device) {
				if d.Events != 1 || d.Duplicates != 1 {
					t.Errorf("%+v", d)
				}
			}},
		{"gap counted", "fv/k1/events", string(event(4, "verified")), true,
			func(t *testing.T, d Device) {
				if d.LastEvent.State != "verified" || d.Gaps != 2 || d.Events != 2 {
					t.Errorf("%+v", d)
				}
			}},
		{"late event keeps the newer one", "fv/k1/events", string(event(3, "processing")), true,
			func(t *testing.T, d Device) {
				if d.LastEvent.State != "verified" || d.Events != 3 {
					t.Errorf("%+v", d)
				}
			}},
		{"restart jump marked by the agent is not a gap", "fv/k1/events", string(restartEvent(105, "capturing")), true,
			func(t *testing.T, d Device) {
				if d.LastEvent.State != "capturing" || d.Gaps != 2 || d.Events != 4 {
					t.Errorf("%+v", d)
				}
			}},
		{"telemetry", "fv/k1/telemetry", `{"v":1,"device_id":"k1","time":"2025-06-01T12:00:00Z","uptime_s":3}`, true,
			func(t *testing.T, d Device) {
				if !strings.Contains(string(d.Telemetry), `"uptime_s":3`) {
					t.Errorf("%s", d.Telemetry)
				}
			}},
		{"reply", "fv/k1/cmd/identify/reply", `{"v":1,"command":"identify","device_id":"k1","request_id":"r","ok":false,"time":"2025-06-01T12:00:00Z","error":{"code":"unauthorized","message":"no"}}`, true,
			func(t *testing.T, d Device) {
				if d.LastReply == nil || d.LastReply.Code != "unauthorized" || d.LastReply.OK {
					t.Errorf("%+v", d.LastReply)
				}
			}},
		{"will without time", "fv/k1/status", `{"v":1,"device_id":"k1","state":"offline","reason":"connection_lost"}`, true,
			func(t *testing.T, d Device) {
				if d.Status != "offline" || d.OfflineSince == nil || !d.OfflineSince.Equal(t0.Add(time.Minute)) {
					t.Errorf("%+v", d)
				}
			}},
		{"wrong version ignored", "fv/k1/status", `{"v":2,"device_id":"k1","state":"online"}`, false, nil},
		{"unknown state ignored", "fv/k1/status", `{"v":1,"device_id":"k1","state":"exploded"}`, false, nil},
		{"garbage ignored", "fv/k1/events", `not json`, false, nil},
		{"other prefix ignored", "other/k1/status", `{"v":1,"device_id":"k1","state":"online"}`, false, nil},
		{"command topic ignored", "fv/k1/cmd/identify", `{"v":1}`, false, nil},
		{"seq restart", "fv/k1/events", string(event(1, "capturing")), true,
			func(t *testing.T, d Device) {
				// seq 1 is still remembered: a duplicate, not a restart.
				if d.Duplicates != 2 {
					t.Errorf("%+v", d)
				}
			}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if got := s.Apply(st.topic, []byte(st.payload), t0.Add(time.Minute)); got != st.changed {
				t.Fatalf("Apply changed=%v, want %v", got, st.changed)
			}
			if st.check != nil {
				st.check(t, s.Devices()[0])
			}
		})
	}
}

func TestSeqWindowRestart(t *testing.T) {
	w := newSeqWindow()
	for seq := uint64(5000); seq < 5010; seq++ {
		w.add(seq)
	}
	if r := w.add(3); r != seqNew || w.last != 3 {
		t.Errorf("a seq far below the window: %v last %d, want a restart", r, w.last)
	}
	if r := w.add(3); r != seqDuplicate {
		t.Errorf("repeat after restart: %v", r)
	}
}

func TestSSEAndIdentifyHTTP(t *testing.T) {
	s := newTestServer(t, []byte("0123456789abcdef0123"))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	s.Apply("fv/k1/status", []byte(`{"v":1,"device_id":"k1","state":"online"}`), t0)

	req, _ := http.NewRequest("GET", srv.URL+"/events", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	rd := bufio.NewReader(resp.Body)
	readEvent := func() (string, string) {
		var name, data string
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "" && name != "":
				return name, data
			case strings.HasPrefix(line, "event: "):
				name = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			}
		}
	}
	if name, data := readEvent(); name != "snapshot" || !strings.Contains(data, `"id":"k1"`) {
		t.Fatalf("first event %s %s", name, data)
	}
	s.Apply("fv/k1/events", event(1, "uploading"), t0)
	if name, data := readEvent(); name != "device" || !strings.Contains(data, `"state":"uploading"`) {
		t.Fatalf("update %s %s", name, data)
	}

	post := func(path string, hdr map[string]string) int {
		req, _ := http.NewRequest("POST", srv.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name string
		path string
		hdr  map[string]string
		want int
	}{
		{"no request header", "/api/devices/k1/identify", nil, http.StatusForbidden},
		{"cross-site origin", "/api/devices/k1/identify", map[string]string{HeaderRequest: "1", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"unknown device", "/api/devices/nope/identify", map[string]string{HeaderRequest: "1"}, http.StatusNotFound},
		{"not connected", "/api/devices/k1/identify", map[string]string{HeaderRequest: "1"}, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(tc.path, tc.hdr); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
		})
	}
	r, _ := http.Get(srv.URL + "/")
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(string(body), "/static/app.js") {
		t.Errorf("page: csp %q body %.80s", csp, body)
	}
	if strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") {
		t.Error("the page references an external resource")
	}
}

func TestIdentifyWithoutSecret(t *testing.T) {
	s := newTestServer(t, nil)
	s.Apply("fv/k1/status", []byte(`{"v":1,"device_id":"k1","state":"online"}`), t0)
	if _, err := s.Identify(context.Background(), "k1"); err != ErrNoSecret {
		t.Errorf("err %v, want ErrNoSecret", err)
	}
}

func FuzzApply(f *testing.F) {
	f.Add("fv/k1/status", []byte(`{"v":1,"device_id":"k1","state":"online"}`))
	f.Add("fv/k1/events", event(7, "verified"))
	f.Add("fv/k1/telemetry", []byte(`{"v":1}`))
	f.Add("fv/k1/cmd/identify/reply", []byte(`{"v":1,"ok":true}`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		s := newTestServer(t, nil)
		s.Apply(topic, payload, t0)
		for _, d := range s.Devices() {
			if _, err := json.Marshal(d); err != nil {
				t.Fatalf("device does not marshal: %v", err)
			}
			if strings.ContainsAny(d.ID, "/+#") {
				t.Fatalf("device id %q", d.ID)
			}
			switch d.Status {
			case "unknown", mqttapi.StateOnline, mqttapi.StateDegraded, mqttapi.StateOffline:
			default:
				t.Fatalf("status %q", d.Status)
			}
		}
	})
}

// TestHostGuard: a request whose Host header is not a loopback name (a page
// that rebound its DNS name to 127.0.0.1) is refused before any handler.
func TestHostGuard(t *testing.T) {
	tests := []struct {
		host   string
		remote bool
		want   int
	}{
		{"127.0.0.1:8471", false, http.StatusOK},
		{"localhost:8471", false, http.StatusOK},
		{"[::1]:8471", false, http.StatusOK},
		{"evil.example:8471", false, http.StatusForbidden},
		{"127.0.0.1.evil.example", false, http.StatusForbidden},
		{"fleet.example.com", true, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			s, err := New(Options{Broker: "tcp://127.0.0.1:1", AllowRemoteHosts: tt.remote})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/api/devices", nil)
			req.Host = tt.host
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("Host %q: %d, want %d (%s)", tt.host, rec.Code, tt.want, rec.Body.String())
			}
		})
	}
}
