// Package mqtt is the agent's fleet interface over MQTT
// (github.com/eclipse/paho.mqtt.golang, MQTT 3.1.1): it reports status,
// session events and telemetry, receives signed remote commands and
// announces the kiosk to Home Assistant.
//
// Topics and payloads are the MQTT contract of gateway/mqttapi (its
// package doc lists them; docs/mqtt.md describes them): status, events,
// telemetry, signed commands and their replies, Home Assistant buttons
// and discovery.
//
// Delivery: a persistent session (clean session off) under a client id
// unique per install (ClientID), resubscribed on every connect; reconnects
// back off from 1 s to Options.MaxReconnectInterval. Events go through a
// bounded on-disk outbox (Options.StateDir) and are sent one at a time in
// seq order, each removed when the broker acknowledges it; when the outbox
// is full the oldest event is dropped (Stats.Dropped, a gap in seq). The
// paho callbacks only hand messages to a queue; handlers run on the
// Client's own goroutine.
//
// Events, status and telemetry carry states, reasons and counters only: no
// images, embeddings, scores or tokens.
package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/uplink"
)

// Options configure a Client.
type Options struct {
	// Broker is the broker URL: tcp://host:1883, ssl://host:8883 (also
	// tls://, mqtts://), ws:// or wss://. Required.
	Broker string
	// DeviceID names the device in topics and payloads. Required.
	DeviceID string
	// Prefix is the first topic level(s) (DefaultPrefix if empty).
	Prefix string
	// ClientID is the MQTT client id; ClientID(DeviceID, StateDir,
	// MachineIDPath) if empty.
	ClientID string
	// QoS of events and replies: 0, 1 or 2 (1 recommended). Status is sent
	// at QoS ≥ 1, telemetry at QoS 0.
	QoS byte
	// KeepAlive is the MQTT keepalive interval (default 30s).
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt (default 10s).
	ConnectTimeout time.Duration
	// MaxReconnectInterval caps the reconnect backoff, which starts at 1 s
	// and doubles (default 30s).
	MaxReconnectInterval time.Duration
	// Username and Password authenticate to the broker (optional).
	Username, Password string
	// CAFile is a PEM bundle of CAs trusted for TLS brokers; the system
	// roots if empty.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key for
	// brokers that require one (both or neither).
	CertFile, KeyFile string
	// StateDir keeps the install id, the event sequence, the outbox and
	// the used command nonces (0700). Empty keeps them in memory: seq
	// restarts at 1, unsent events are lost on restart, and commands
	// signed before the Client was made are refused as expired.
	StateDir string
	// MachineIDPath is mixed into the default client id
	// (DefaultMachineIDPath if empty; "-" to skip).
	MachineIDPath string
	// QueueSize bounds the outbox: events waiting for the broker (default
	// 1000). The oldest is dropped beyond it.
	QueueSize int
	// DrainTimeout bounds how long Run keeps sending queued events after
	// its context ends (default 2s); what is left stays in the outbox.
	DrainTimeout time.Duration
	// Version is reported in status, telemetry and discovery (optional).
	Version string
	// CommandSecret is the HMAC-SHA256 key of signed commands. Empty
	// refuses every command on P/D/cmd/<name> (replying unauthorized).
	CommandSecret []byte
	// CommandWindow is how far a command's ts may be from the device
	// clock (DefaultCommandWindow if 0).
	CommandWindow time.Duration
	// CommandTimeout bounds one command handler (default 30s).
	CommandTimeout time.Duration
	// TelemetryInterval is the telemetry period (default 30s); < 0 turns
	// telemetry off.
	TelemetryInterval time.Duration
	// HADiscovery publishes Home Assistant discovery configs and accepts
	// the unsigned identify and self-test buttons on P/D/ha/<name>.
	HADiscovery bool
	// HADiscoveryPrefix is Home Assistant's discovery prefix
	// (DefaultHADiscoveryPrefix if empty).
	HADiscoveryPrefix string
	// OpenConn, if set, replaces dialing the broker (tests use it to cut
	// the TCP connection without DISCONNECT). TLS settings are not applied.
	OpenConn func(broker *url.URL) (net.Conn, error)
	// Logger receives connection changes and drops (slog.Default if nil).
	Logger *slog.Logger
}

// Stats counts what a Client did.
type Stats struct {
	Queued      uint64 // events accepted by Publish
	Published   uint64 // events the broker acknowledged (QoS ≥ 1) or sent (QoS 0)
	Dropped     uint64 // events dropped because the outbox was full
	Commands    uint64 // commands handed to a handler
	Refused     uint64 // commands refused: unsigned, bad signature, expired, replayed, unknown, queue full
	Reconnects  uint64 // connections made after the first
	OutboxDepth int    // events waiting now
	Connected   bool
}

// Handler answers one authenticated command. It runs on the Client's
// command goroutine with a deadline (Options.CommandTimeout); the Client
// fills the Reply's envelope fields.
type Handler func(ctx context.Context, cmd mqttapi.Command) mqttapi.Reply

// Client is the MQTT fleet interface of one device; it implements
// uplink.Publisher. Make one with New, register handlers with
// HandleCommand and readings with SetTelemetry, then call Run once.
type Client struct {
	opts     Options
	clientID string
	logger   *slog.Logger
	tls      *tls.Config
	outbox   *outbox
	store    *resumeStore
	verifier *mqttapi.Verifier
	started  time.Time

	mu        sync.Mutex
	handlers  map[string]Handler
	telemetry func(*mqttapi.Telemetry)
	state     string // StateOnline or StateDegraded
	reason    string
	running   bool
	cl        paho.Client
	connected chan struct{} // closed while connected; replaced on loss

	wake      chan struct{} // an event was queued
	telNow    chan struct{} // send telemetry soon
	connEvent chan struct{} // paho connected; run the connect work
	inbox     chan paho.Message

	queued, published, commands, refused, connects atomic.Uint64
	isConnected                                    atomic.Bool

	connTrack  connectTracker // last failed connection attempt (connerr.go)
	brokerUser string         // user info of Options.Broker, kept out of logs
}

var _ uplink.Publisher = (*Client)(nil)

// New checks opts, opens the outbox in StateDir and returns a Client;
// nothing connects until Run.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.Broker)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("mqtt broker %q: not a URL like tcp://host:1883", opts.Broker)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return nil, fmt.Errorf("mqtt broker %q: unsupported scheme %q", opts.Broker, u.Scheme)
	}
	if !mqttapi.ValidTopicLevel(opts.DeviceID) {
		return nil, fmt.Errorf("mqtt device id %q: must be a non-empty topic level without '/', '+', '#'", opts.DeviceID)
	}
	if opts.Prefix == "" {
		opts.Prefix = mqttapi.DefaultPrefix
	}
	if !mqttapi.TopicPrefixValid(opts.Prefix) {
		return nil, fmt.Errorf("mqtt prefix %q: must be topic levels without wildcards, leading/trailing '/' or '$'", opts.Prefix)
	}
	if opts.HADiscoveryPrefix == "" {
		opts.HADiscoveryPrefix = mqttapi.DefaultHADiscoveryPrefix
	}
	if !mqttapi.TopicPrefixValid(opts.HADiscoveryPrefix) {
		return nil, fmt.Errorf("mqtt home assistant prefix %q: not a valid topic prefix", opts.HADiscoveryPrefix)
	}
	if opts.QoS > 2 {
		return nil, fmt.Errorf("mqtt qos %d: must be 0, 1 or 2", opts.QoS)
	}
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return nil, errors.New("mqtt client certificate: set both the certificate and the key file, or neither")
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 30 * time.Second
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.MaxReconnectInterval <= 0 {
		opts.MaxReconnectInterval = 30 * time.Second
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1000
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 2 * time.Second
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 30 * time.Second
	}
	if opts.TelemetryInterval == 0 {
		opts.TelemetryInterval = 30 * time.Second
	}
	if opts.MachineIDPath == "" {
		opts.MachineIDPath = DefaultMachineIDPath
	} else if opts.MachineIDPath == "-" {
		opts.MachineIDPath = ""
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	logger := opts.Logger.With("component", "mqtt", "broker", redact(u))
	c := &Client{
		opts:      opts,
		clientID:  opts.ClientID,
		logger:    logger,
		verifier:  mqttapi.NewVerifier(opts.CommandSecret, opts.CommandWindow, nil),
		started:   time.Now(),
		handlers:  map[string]Handler{},
		state:     mqttapi.StateOnline,
		connected: make(chan struct{}),
		wake:      make(chan struct{}, 1),
		telNow:    make(chan struct{}, 1),
		connEvent: make(chan struct{}, 1),
		inbox:     make(chan paho.Message, 64),
		store:     newResumeStore(),
	}
	if u.User != nil {
		c.brokerUser = u.User.String()
	}
	if c.clientID == "" {
		if c.clientID, err = ClientID(opts.DeviceID, opts.StateDir, opts.MachineIDPath); err != nil {
			return nil, err
		}
	}
	if opts.CAFile != "" || opts.CertFile != "" || u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "mqtts" || u.Scheme == "wss" {
		c.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		if opts.CAFile != "" {
			pem, err := os.ReadFile(opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("mqtt ca file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("mqtt ca file %s: no PEM certificate", opts.CAFile)
			}
			c.tls.RootCAs = pool
		}
		if opts.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("mqtt client certificate: %w", err)
			}
			c.tls.Certificates = []tls.Certificate{cert}
		}
	}
	dir := ""
	if opts.StateDir != "" {
		dir = opts.StateDir + "/" + opts.DeviceID
	}
	if c.outbox, err = openOutbox(dir, opts.QueueSize, logger); err != nil {
		return nil, err
	}
	if dir != "" {
		// Used nonces survive a restart (sign.go); the outbox made dir.
		c.verifier = mqttapi.OpenVerifier(opts.CommandSecret, opts.CommandWindow, nil, filepath.Join(dir, mqttapi.NonceFile))
		if f := c.verifier.Floor(); !f.IsZero() {
			logger.Warn("mqtt: command nonce file unreadable; commands signed before now are refused",
				"path", filepath.Join(dir, mqttapi.NonceFile), "floor", f.UTC())
		}
	}
	return c, nil
}

func redact(u *url.URL) string {
	v := *u
	v.User = nil
	return v.String()
}

// ClientIDInUse is the MQTT client id this Client connects with.
func (c *Client) ClientIDInUse() string { return c.clientID }

// StatusTopic is P/D/status.
func (c *Client) StatusTopic() string { return c.topic("status") }

// EventsTopic is P/D/events.
func (c *Client) EventsTopic() string { return c.topic("events") }

// TelemetryTopic is P/D/telemetry.
func (c *Client) TelemetryTopic() string { return c.topic("telemetry") }

// CommandTopic is P/D/cmd/name.
func (c *Client) CommandTopic(name string) string { return c.topic("cmd/" + name) }

// ReplyTopic is P/D/cmd/name/reply.
func (c *Client) ReplyTopic(name string) string { return c.topic("cmd/" + name + "/reply") }

func (c *Client) topic(s string) string { return c.opts.Prefix + "/" + c.opts.DeviceID + "/" + s }

// HandleCommand registers h for the command name (P/D/cmd/name and, for
// identify and self-test with HADiscovery, P/D/ha/name). Commands without
// a handler are refused as unsupported. Call it before Run.
func (c *Client) HandleCommand(name string, h Handler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers[name] = h
}

// SetTelemetry sets the function that fills each telemetry report with the
// readings it knows (the Client sets v, device_id, time, uptime, version
// and mqtt). It is called from the telemetry goroutine and must not block.
func (c *Client) SetTelemetry(fill func(*mqttapi.Telemetry)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.telemetry = fill
}

// SetDegraded sets the retained status to degraded with reason (snake
// case, e.g. "camera_lost"), or back to online when reason is "". The
// change is published at once when connected, else on the next connect.
func (c *Client) SetDegraded(reason string) {
	c.mu.Lock()
	state := mqttapi.StateOnline
	if reason != "" {
		state = mqttapi.StateDegraded
	}
	changed := state != c.state || reason != c.reason
	c.state, c.reason = state, reason
	cl := c.cl
	c.mu.Unlock()
	if changed && cl != nil && c.isConnected.Load() {
		c.publishStatus(cl)
	}
}

// Publish queues ev in the outbox, stamped with the device id, the next
// sequence number and the time (now if zero, always UTC). It does not wait
// for the network: at most two small file writes when StateDir is set.
// When the outbox is full the oldest event is dropped.
func (c *Client) Publish(ev uplink.Event) {
	ev.DeviceID = c.opts.DeviceID
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Time = ev.Time.UTC()
	_, dropped := c.outbox.add(func(seq uint64, gap string) []byte {
		ev.Seq = seq
		b, _ := json.Marshal(mqttapi.EventMessage{V: mqttapi.Version, Event: ev, Gap: gap})
		return b
	})
	c.queued.Add(1)
	if dropped {
		c.logger.Warn("mqtt: outbox full, dropped the oldest event", "dropped_total", c.outbox.droppedTotal())
	}
	signal(c.wake)
	signal(c.telNow)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	n := c.connects.Load()
	if n > 0 {
		n--
	}
	return Stats{
		Queued: c.queued.Load(), Published: c.published.Load(), Dropped: c.outbox.droppedTotal(),
		Commands: c.commands.Load(), Refused: c.refused.Load(), Reconnects: n,
		OutboxDepth: c.outbox.len(), Connected: c.isConnected.Load(),
	}
}

// Connected reports whether the client is connected (and has announced
// itself and subscribed) now.
func (c *Client) Connected() bool { return c.isConnected.Load() }

func (c *Client) statusPayload(state, reason string, withTime bool) []byte {
	s := mqttapi.Status{V: mqttapi.Version, DeviceID: c.opts.DeviceID, State: state, Reason: reason, Version: c.opts.Version}
	if withTime {
		now := time.Now().UTC()
		s.Time = &now
	}
	b, _ := json.Marshal(s)
	return b
}

// qosForStatus: status and will are sent at least once even at QoS 0 events.
func (c *Client) qosForStatus() byte { return max(c.opts.QoS, 1) }

// Run connects (retrying with backoff until ctx ends), keeps the
// connection, sends the outbox in order, publishes telemetry and answers
// commands. When ctx ends it sends what is queued for up to DrainTimeout,
// publishes the retained "offline" status, disconnects cleanly and marks
// the outbox closed (unsent events stay for the next run). It returns nil
// after a clean stop.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("mqtt: Run called twice")
	}
	c.running = true
	c.mu.Unlock()

	o := paho.NewClientOptions().
		AddBroker(c.opts.Broker).
		SetClientID(c.clientID).
		SetProtocolVersion(4). // MQTT 3.1.1 only: a fallback to 3.1 would hide the CONNACK refusal
		SetCleanSession(false).
		SetStore(c.store).
		SetResumeSubs(false). // subscriptions are made again on every connect
		SetKeepAlive(c.opts.KeepAlive).
		SetPingTimeout(min(c.opts.KeepAlive, 10*time.Second)).
		SetConnectTimeout(c.opts.ConnectTimeout).
		SetWriteTimeout(10*time.Second).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(c.opts.MaxReconnectInterval).
		SetOrderMatters(false).
		SetDefaultPublishHandler(c.route). // messages of the persistent session arrive before Subscribe returns
		SetBinaryWill(c.StatusTopic(), c.statusPayload(mqttapi.StateOffline, mqttapi.ReasonConnectionLost, false), c.qosForStatus(), true).
		SetConnectionNotificationHandler(c.onConnectionNotification).
		SetOnConnectHandler(func(paho.Client) {
			if n := c.connTrack.connected(); n > 0 {
				c.logger.Info("mqtt: broker accepted the connection", "failed_attempts", n)
			}
			signal(c.connEvent)
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			c.setConnected(false)
			c.logger.Warn("mqtt: connection lost, reconnecting", "err", err)
		})
	if c.opts.Username != "" {
		o.SetUsername(c.opts.Username)
		o.SetPassword(c.opts.Password)
	}
	if c.tls != nil {
		o.SetTLSConfig(c.tls)
	}
	if c.opts.OpenConn != nil {
		open := c.opts.OpenConn
		o.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) { return open(u) })
	}
	cl := paho.NewClient(o)
	c.mu.Lock()
	c.cl = cl
	c.mu.Unlock()
	c.logger.Info("mqtt: connecting", "client_id", c.clientID)
	cl.Connect() // with ConnectRetry the token completes once connected; connEvent takes over

	// paho's Connect took one snapshot already (it reserves stored ids).
	snap := c.store.snapshots()
	var wg sync.WaitGroup
	connLoop := func(ctx context.Context, cl paho.Client) { c.connLoop(ctx, cl, snap) }
	for _, f := range []func(context.Context, paho.Client){connLoop, c.commandLoop, c.telemetryLoop} {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx, cl) }()
	}
	c.sendLoop(ctx, cl)
	wg.Wait()

	// Shutdown: drain, say goodbye, disconnect.
	drain, cancel := context.WithTimeout(context.Background(), c.opts.DrainTimeout)
	defer cancel()
	if c.isConnected.Load() {
		c.flush(drain, cl)
		t := cl.Publish(c.StatusTopic(), c.qosForStatus(), true, c.statusPayload(mqttapi.StateOffline, mqttapi.ReasonShutdown, true))
		waitToken(drain, t, time.Second)
	}
	cl.Disconnect(250)
	c.setConnected(false)
	if n := c.outbox.len(); n > 0 {
		c.logger.Warn("mqtt: events kept in the outbox for the next run", "count", n)
	}
	if err := c.outbox.close(); err != nil {
		c.logger.Warn("mqtt: outbox close", "err", err)
	}
	return nil
}

// connLoop runs the connect work after every (re)connect: status,
// subscriptions, discovery, telemetry; then it opens the send loop. seen is
// the number of store snapshots taken before the first connect.
func (c *Client) connLoop(ctx context.Context, cl paho.Client, seen uint64) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.connEvent:
		}
		// Let paho take its resend snapshot before anything is published.
		if !c.store.waitSnapshot(seen, 2*time.Second) {
			c.logger.Debug("mqtt: no resend snapshot after connect")
		}
		seen = c.store.snapshots()
		if n := c.connects.Add(1); n > 1 {
			c.logger.Info("mqtt: reconnected", "client_id", c.clientID, "reconnects", n-1)
		} else {
			c.logger.Info("mqtt: connected", "client_id", c.clientID)
		}
		c.publishStatus(cl)
		subs := map[string]byte{c.CommandTopic("+"): 1}
		if c.opts.HADiscovery {
			subs[c.topic("ha/+")] = 1
			subs[c.HAStatusTopic()] = 1
		}
		t := cl.SubscribeMultiple(subs, c.route)
		if !waitToken(ctx, t, 10*time.Second) || t.Error() != nil {
			c.logger.Error("mqtt: subscribe failed", "err", t.Error())
		}
		if c.opts.HADiscovery {
			c.publishDiscovery(ctx, cl)
		}
		if cl.IsConnectionOpen() {
			c.setConnected(true)
		}
		signal(c.telNow)
	}
}

// route hands an inbound message to commandLoop; it never blocks paho's
// router (a full queue drops the message and counts it as refused).
func (c *Client) route(_ paho.Client, m paho.Message) {
	select {
	case c.inbox <- m:
	default:
		c.refused.Add(1)
		c.logger.Warn("mqtt: inbound queue full, message dropped", "topic", m.Topic())
	}
}

func (c *Client) publishStatus(cl paho.Client) {
	c.mu.Lock()
	state, reason := c.state, c.reason
	c.mu.Unlock()
	t := cl.Publish(c.StatusTopic(), c.qosForStatus(), true, c.statusPayload(state, reason, true))
	if !t.WaitTimeout(5*time.Second) || t.Error() != nil {
		c.logger.Warn("mqtt: status not acknowledged", "state", state, "err", t.Error())
	}
}

func (c *Client) publishDiscovery(ctx context.Context, cl paho.Client) {
	for _, m := range c.Discovery() {
		t := cl.Publish(m.Topic, 1, true, m.Payload)
		if !waitToken(ctx, t, 5*time.Second) || t.Error() != nil {
			c.logger.Warn("mqtt: discovery not acknowledged", "topic", m.Topic, "err", t.Error())
			return
		}
	}
}

func (c *Client) setConnected(v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.isConnected.Swap(v)
	switch {
	case v && !was:
		close(c.connected)
	case !v && was:
		c.connected = make(chan struct{})
	}
}

func (c *Client) connectedCh() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

// waitToken waits for t up to d or until ctx ends; true if t completed.
func waitToken(ctx context.Context, t paho.Token, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.Done():
		return true
	case <-ctx.Done():
	case <-timer.C:
	}
	return false
}

// sendLoop sends the outbox in order while connected, until ctx ends.
func (c *Client) sendLoop(ctx context.Context, cl paho.Client) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.connectedCh():
		}
		if !c.flush(ctx, cl) {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
	}
}

// ackTimeout is how long one event waits for its acknowledgement before it
// is sent again (paho also resends it after a reconnect; consumers drop the
// duplicate by seq).
const ackTimeout = 20 * time.Second

// flush sends queued events, oldest first, each after the previous one was
// acknowledged, until the outbox is empty (true) or the connection or ctx
// is lost (false).
func (c *Client) flush(ctx context.Context, cl paho.Client) bool {
	backoff := 200 * time.Millisecond
	for {
		it, ok := c.outbox.head()
		if !ok {
			return true
		}
		if ctx.Err() != nil || !c.isConnected.Load() {
			return false
		}
		t := cl.Publish(c.EventsTopic(), c.opts.QoS, false, it.payload)
		if waitToken(ctx, t, ackTimeout) && t.Error() == nil {
			c.published.Add(1)
			c.outbox.remove(it.seq)
			backoff = 200 * time.Millisecond
			continue
		}
		if ctx.Err() != nil {
			return false
		}
		// A failed write usually means a dead connection that paho has not
		// noticed yet (it will, by keepalive); paho keeps the message and
		// resends it after the reconnect, so retry slowly.
		c.logger.Debug("mqtt: event not acknowledged, will resend", "seq", it.seq, "err", t.Error(), "after", backoff)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// telemetryLoop publishes telemetry every TelemetryInterval and soon after
// each event (at most every 250ms).
func (c *Client) telemetryLoop(ctx context.Context, cl paho.Client) {
	if c.opts.TelemetryInterval < 0 {
		return
	}
	tick := time.NewTicker(c.opts.TelemetryInterval)
	defer tick.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-c.telNow:
			if d := 250*time.Millisecond - time.Since(last); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
		}
		if !c.isConnected.Load() {
			continue
		}
		last = time.Now()
		b, _ := json.Marshal(c.Telemetry())
		cl.Publish(c.TelemetryTopic(), 0, true, b)
	}
}

// Telemetry returns a report as it would be sent now.
func (c *Client) Telemetry() mqttapi.Telemetry {
	now := time.Now()
	t := mqttapi.Telemetry{
		V: mqttapi.Version, DeviceID: c.opts.DeviceID, Time: now.UTC(),
		UptimeS: float64(now.Sub(c.started).Milliseconds()) / 1000, Version: c.opts.Version,
	}
	c.mu.Lock()
	fill := c.telemetry
	c.mu.Unlock()
	if fill != nil {
		fill(&t)
	}
	// The envelope is the Client's, whatever fill did.
	t.V, t.DeviceID = mqttapi.Version, c.opts.DeviceID
	s := c.Stats()
	t.MQTT = &mqttapi.MQTTTelemetry{OutboxDepth: s.OutboxDepth, Dropped: s.Dropped, Reconnects: s.Reconnects}
	return t
}

// commandLoop handles inbound messages one at a time: commands, Home
// Assistant buttons and Home Assistant's birth message.
func (c *Client) commandLoop(ctx context.Context, cl paho.Client) {
	cmdPrefix := c.topic("cmd/")
	haPrefix := c.topic("ha/")
	for {
		var m paho.Message
		select {
		case <-ctx.Done():
			return
		case m = <-c.inbox:
		}
		topic := m.Topic()
		switch {
		case topic == c.HAStatusTopic():
			if c.opts.HADiscovery && strings.TrimSpace(string(m.Payload())) == "online" {
				c.logger.Info("mqtt: home assistant is online, discovery sent again")
				c.publishDiscovery(ctx, cl)
			}
		case strings.HasPrefix(topic, cmdPrefix) && !strings.Contains(topic[len(cmdPrefix):], "/"):
			c.command(ctx, cl, topic[len(cmdPrefix):], topic, m.Payload())
		case c.opts.HADiscovery && strings.HasPrefix(topic, haPrefix) && !strings.Contains(topic[len(haPrefix):], "/"):
			c.haCommand(ctx, cl, topic[len(haPrefix):], m.Payload())
		}
	}
}

func (c *Client) handler(name string) Handler {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.handlers[name]
}

// command verifies and runs one signed command and publishes its reply.
func (c *Client) command(ctx context.Context, cl paho.Client, name, topic string, payload []byte) {
	log := c.logger.With("command", name)
	if !mqttapi.ValidTopicLevel(name) || len(name) > 64 {
		return
	}
	body, hdr, err := c.verifier.Verify(topic, payload)
	if err != nil {
		c.refused.Add(1)
		log.Warn("mqtt: command refused", "request_id", hdr.RequestID, "err", err)
		c.reply(ctx, cl, name, hdr.RequestID, mqttapi.Reply{Error: &mqttapi.ReplyError{Code: mqttapi.ReplyCode(err), Message: err.Error()}})
		return
	}
	h := c.handler(name)
	if h == nil {
		c.refused.Add(1)
		c.reply(ctx, cl, name, hdr.RequestID, mqttapi.ErrorReply("unsupported", fmt.Sprintf("unknown command %q", name)))
		return
	}
	c.commands.Add(1)
	log.Info("mqtt: command", "request_id", hdr.RequestID)
	hctx, cancel := context.WithTimeout(ctx, c.opts.CommandTimeout)
	r := h(hctx, mqttapi.Command{Name: name, RequestID: hdr.RequestID, Body: body, Source: mqttapi.SourceSigned})
	cancel()
	c.reply(ctx, cl, name, hdr.RequestID, r)
}

// haCommand runs an unsigned Home Assistant button press.
func (c *Client) haCommand(ctx context.Context, cl paho.Client, name string, payload []byte) {
	h := c.handler(name)
	if !mqttapi.HACommand(name) || h == nil || string(payload) != mqttapi.HAPayloadPress {
		c.refused.Add(1)
		c.logger.Warn("mqtt: home assistant command refused", "command", name)
		return
	}
	c.commands.Add(1)
	c.logger.Info("mqtt: command", "command", name, "source", mqttapi.SourceHA)
	hctx, cancel := context.WithTimeout(ctx, c.opts.CommandTimeout)
	r := h(hctx, mqttapi.Command{Name: name, Body: json.RawMessage("{}"), Source: mqttapi.SourceHA})
	cancel()
	c.reply(ctx, cl, name, "", r)
}

func (c *Client) reply(ctx context.Context, cl paho.Client, name, requestID string, r mqttapi.Reply) {
	r.V, r.Command, r.DeviceID, r.Time = mqttapi.Version, name, c.opts.DeviceID, time.Now().UTC()
	if r.RequestID == "" {
		r.RequestID = requestID
	}
	if !r.OK && r.Error == nil {
		r.Error = &mqttapi.ReplyError{Code: "internal", Message: "the command failed without a reason"}
	}
	b, _ := json.Marshal(r)
	t := cl.Publish(c.ReplyTopic(name), c.opts.QoS, false, b)
	if !waitToken(ctx, t, 5*time.Second) || t.Error() != nil {
		c.logger.Warn("mqtt: command reply not sent", "command", name, "err", t.Error())
	}
}
