// Package fleet is the live fleet page: it subscribes to the kiosks' MQTT
// topics (<prefix>/+/status, events, telemetry and command replies, see
// docs/mqtt.md), keeps the latest state of every device, and serves a
// page (embedded HTML and JavaScript, no external resources) that shows
// every device live through Server-Sent Events, with an identify button
// whose command the server signs and publishes.
//
// Use:
//
//	s, err := fleet.New(fleet.Options{Broker: "tcp://127.0.0.1:1883", CommandSecret: secret})
//	go s.Run(ctx)                        // the MQTT subscription
//	http.ListenAndServe("127.0.0.1:8471", s.Handler())
package fleet

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/faceverify/faceverify/gateway/mqttapi"
)

// Options configure a Server.
type Options struct {
	// Broker is the MQTT broker URL (tcp://, ssl://, ws://, wss://).
	Broker string
	// Prefix is the kiosks' topic prefix (mqttapi.DefaultPrefix if empty).
	Prefix string
	// ClientID is the MQTT client id ("facegateway-fleet-<random>" if
	// empty).
	ClientID string
	// Username and Password authenticate to the broker (optional).
	Username, Password string
	// CAFile, CertFile and KeyFile configure TLS to the broker (optional).
	CAFile, CertFile, KeyFile string
	// CommandSecret signs identify commands (the kiosks' command secret);
	// empty disables the identify button.
	CommandSecret []byte
	// Logger receives connection changes (slog.Default if nil).
	Logger *slog.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// AllowRemoteHosts accepts requests whose Host header is not a loopback
	// name. Off (the default), a page served on loopback answers only to
	// localhost / 127.0.0.0/8 / [::1], which defeats DNS rebinding.
	AllowRemoteHosts bool
}

// Device is the live state of one kiosk, as the page shows it. It holds
// what the kiosks publish: states, reasons, counters; never biometrics.
type Device struct {
	ID      string `json:"id"`
	Status  string `json:"status"`           // online, degraded, offline; "unknown" before a status arrived
	Reason  string `json:"reason,omitempty"` // why degraded or offline
	Version string `json:"version,omitempty"`
	// Since is when the current status began (the kiosk's time, or when
	// it was received if the payload has none, as in the Last Will).
	Since *time.Time `json:"since,omitempty"`
	// OfflineSince is set while the status is offline.
	OfflineSince *time.Time      `json:"offline_since,omitempty"`
	LastEvent    *Event          `json:"last_event,omitempty"`
	Events       uint64          `json:"events"`     // distinct events received
	Duplicates   uint64          `json:"duplicates"` // events dropped because their seq was seen
	Gaps         uint64          `json:"gaps"`       // events missed (jumps in seq)
	Telemetry    json.RawMessage `json:"telemetry,omitempty"`
	LastReply    *Reply          `json:"last_reply,omitempty"`
	UpdatedAt    time.Time       `json:"updated_at"`

	seqs *seqWindow
}

// Event is a device's last session event.
type Event struct {
	Seq           uint64    `json:"seq"`
	State         string    `json:"state"`
	Reason        string    `json:"reason,omitempty"`
	SessionID     string    `json:"session_id"`
	CorrelationID string    `json:"correlation_id"`
	Attempt       int       `json:"attempt"`
	Time          time.Time `json:"time"`
}

// Reply is a device's last command reply.
type Reply struct {
	Command   string    `json:"command"`
	RequestID string    `json:"request_id,omitempty"`
	OK        bool      `json:"ok"`
	Code      string    `json:"code,omitempty"`
	Message   string    `json:"message,omitempty"`
	Time      time.Time `json:"time"`
}

// Errors of Identify; test with errors.Is.
var (
	ErrNoSecret      = errors.New("no command secret configured: identify is disabled")
	ErrUnknownDevice = errors.New("unknown device")
	ErrNotConnected  = errors.New("not connected to the broker")
)

// Server is the fleet page. Make one with New, call Run for the MQTT side
// and serve Handler.
type Server struct {
	opts Options
	log  *slog.Logger
	tls  *tls.Config

	mu      sync.Mutex
	devices map[string]*Device
	subs    map[chan []byte]struct{}
	cl      paho.Client

	inbox     chan paho.Message
	dropped   atomic.Uint64
	connected atomic.Bool
}

// MaxDevices bounds the devices tracked; messages of further devices are
// ignored (a misbehaving client cannot grow the page without bound).
const MaxDevices = 10000

// New checks opts and returns a Server.
func New(o Options) (*Server, error) {
	u, err := url.Parse(o.Broker)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("fleet broker %q: not a URL like tcp://host:1883", o.Broker)
	}
	if o.Prefix == "" {
		o.Prefix = mqttapi.DefaultPrefix
	}
	if !mqttapi.TopicPrefixValid(o.Prefix) {
		return nil, fmt.Errorf("fleet prefix %q: not a valid topic prefix", o.Prefix)
	}
	if o.ClientID == "" {
		b := make([]byte, 4)
		rand.Read(b)
		o.ClientID = "facegateway-fleet-" + hex.EncodeToString(b)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{opts: o, log: o.Logger.With("component", "fleet"), devices: map[string]*Device{},
		subs: map[chan []byte]struct{}{}, inbox: make(chan paho.Message, 1024)}
	if o.CAFile != "" || o.CertFile != "" || u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "mqtts" || u.Scheme == "wss" {
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("fleet ca file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("fleet ca file %s: no PEM certificate", o.CAFile)
			}
			s.tls.RootCAs = pool
		}
		if o.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("fleet client certificate: %w", err)
			}
			s.tls.Certificates = []tls.Certificate{cert}
		}
	}
	return s, nil
}

// Run subscribes to the fleet topics (again after every reconnect) and
// applies messages until ctx ends. It returns nil after a clean stop.
func (s *Server) Run(ctx context.Context) error {
	route := func(_ paho.Client, m paho.Message) {
		select { // never block paho
		case s.inbox <- m:
		default:
			s.dropped.Add(1)
		}
	}
	p := s.opts.Prefix
	o := paho.NewClientOptions().AddBroker(s.opts.Broker).SetClientID(s.opts.ClientID).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(10 * time.Second).
		SetOrderMatters(false).
		SetOnConnectHandler(func(c paho.Client) {
			s.log.Info("fleet: connected to the broker")
			c.SubscribeMultiple(map[string]byte{
				p + "/+/status": 1, p + "/+/events": 1, p + "/+/telemetry": 0, p + "/+/cmd/+/reply": 1,
			}, route)
			s.connected.Store(true)
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			s.connected.Store(false)
			s.log.Warn("fleet: connection lost, reconnecting", "err", err)
		})
	if s.opts.Username != "" {
		o.SetUsername(s.opts.Username)
		o.SetPassword(s.opts.Password)
	}
	if s.tls != nil {
		o.SetTLSConfig(s.tls)
	}
	cl := paho.NewClient(o)
	s.mu.Lock()
	s.cl = cl
	s.mu.Unlock()
	cl.Connect()
	defer cl.Disconnect(250)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-s.inbox:
			s.Apply(m.Topic(), m.Payload(), s.opts.Now())
		}
	}
}

// Connected reports whether the MQTT subscription is up.
func (s *Server) Connected() bool { return s.connected.Load() }

// Apply takes one message of the fleet topics received at now and updates
// the device; other topics and malformed payloads are ignored. It returns
// whether something changed. Run calls it; tests may call it directly.
func (s *Server) Apply(topic string, payload []byte, now time.Time) bool {
	rest, ok := strings.CutPrefix(topic, s.opts.Prefix+"/")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || !mqttapi.ValidTopicLevel(parts[0]) || len(payload) == 0 || len(payload) > 64<<10 {
		return false
	}
	id := parts[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[id]
	if d == nil {
		if len(s.devices) >= MaxDevices {
			return false
		}
		d = &Device{ID: id, Status: "unknown", seqs: newSeqWindow()}
	}
	changed := false
	switch {
	case len(parts) == 2 && parts[1] == "status":
		changed = applyStatus(d, payload, now)
	case len(parts) == 2 && parts[1] == "events":
		changed = applyEvent(d, payload)
	case len(parts) == 2 && parts[1] == "telemetry":
		var t struct {
			V int `json:"v"`
		}
		if json.Unmarshal(payload, &t) == nil && t.V == mqttapi.Version {
			d.Telemetry = append(json.RawMessage(nil), payload...)
			changed = true
		}
	case len(parts) == 4 && parts[1] == "cmd" && parts[3] == "reply":
		var r mqttapi.Reply
		if json.Unmarshal(payload, &r) == nil && r.V == mqttapi.Version {
			d.LastReply = &Reply{Command: r.Command, RequestID: r.RequestID, OK: r.OK, Time: r.Time}
			if r.Error != nil {
				d.LastReply.Code, d.LastReply.Message = r.Error.Code, r.Error.Message
			}
			changed = true
		}
	}
	if !changed {
		return false
	}
	d.UpdatedAt = now.UTC()
	s.devices[id] = d
	b, _ := json.Marshal(d)
	s.broadcastLocked(b)
	return true
}

func applyStatus(d *Device, payload []byte, now time.Time) bool {
	var st mqttapi.Status
	if json.Unmarshal(payload, &st) != nil || st.V != mqttapi.Version {
		return false
	}
	switch st.State {
	case mqttapi.StateOnline, mqttapi.StateDegraded, mqttapi.StateOffline:
	default:
		return false
	}
	at := now.UTC()
	if st.Time != nil {
		at = st.Time.UTC()
	}
	if d.Status != st.State || d.Since == nil {
		d.Since = &at
	}
	d.Status, d.Reason = st.State, st.Reason
	if st.Version != "" {
		d.Version = st.Version
	}
	if st.State == mqttapi.StateOffline {
		if d.OfflineSince == nil {
			d.OfflineSince = &at
		}
	} else {
		d.OfflineSince = nil
	}
	return true
}

func applyEvent(d *Device, payload []byte) bool {
	var ev mqttapi.EventMessage
	if json.Unmarshal(payload, &ev) != nil || ev.V != mqttapi.Version || ev.Seq == 0 {
		return false
	}
	switch d.seqs.add(ev.Seq) {
	case seqDuplicate:
		d.Duplicates++
		return true
	case seqStale:
		d.Events++
		return true // older than the last one shown: count it, keep the newer event
	case seqGap:
		// The agent jumps its sequence on purpose after an unclean stop
		// and marks the first event after it; that is not a loss.
		if ev.Gap != mqttapi.GapRestart {
			d.Gaps += d.seqs.lastGap
		}
	}
	d.Events++
	d.LastEvent = &Event{Seq: ev.Seq, State: ev.State, Reason: ev.Reason, SessionID: ev.SessionID,
		CorrelationID: ev.CorrelationID, Attempt: ev.Attempt, Time: ev.Time}
	return true
}

// Devices returns every device, sorted by id.
func (s *Server) Devices() []Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Device, 0, len(s.devices))
	for _, d := range s.devices {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// subscribe registers an SSE listener; updates are device JSON objects.
func (s *Server) subscribe() (chan []byte, []byte) {
	ch := make(chan []byte, 256)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs[ch] = struct{}{}
	list := make([]*Device, 0, len(s.devices))
	for _, d := range s.devices {
		list = append(list, d)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	snap, _ := json.Marshal(list)
	return ch, snap
}

func (s *Server) unsubscribe(ch chan []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[ch]; ok {
		delete(s.subs, ch)
		close(ch)
	}
}

// broadcastLocked sends b to every listener; a listener too slow to keep
// up is disconnected (its browser reconnects and gets a fresh snapshot).
func (s *Server) broadcastLocked(b []byte) {
	for ch := range s.subs {
		select {
		case ch <- b:
		default:
			delete(s.subs, ch)
			close(ch)
		}
	}
}

// Identify signs and publishes an identify command to device id and
// returns its request id; the reply shows up as the device's LastReply.
// Errors: ErrNoSecret, ErrUnknownDevice, ErrNotConnected, or the publish
// error.
func (s *Server) Identify(ctx context.Context, id string) (string, error) {
	if len(s.opts.CommandSecret) == 0 {
		return "", ErrNoSecret
	}
	s.mu.Lock()
	_, known := s.devices[id]
	cl := s.cl
	s.mu.Unlock()
	if !known {
		return "", ErrUnknownDevice
	}
	if cl == nil || !s.connected.Load() {
		return "", ErrNotConnected
	}
	b := make([]byte, 6)
	rand.Read(b)
	reqID := "fleet-" + hex.EncodeToString(b)
	topic := mqttapi.CommandTopic(s.opts.Prefix, id, mqttapi.CmdIdentify)
	payload, err := mqttapi.SignCommand(s.opts.CommandSecret, topic, reqID, s.opts.Now(), nil)
	if err != nil {
		return "", err
	}
	t := cl.Publish(topic, 1, false, payload)
	select {
	case <-t.Done():
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if err := t.Error(); err != nil {
		return "", fmt.Errorf("publish identify: %w", err)
	}
	s.log.Info("fleet: identify sent", "device_id", id, "request_id", reqID)
	return reqID, nil
}
