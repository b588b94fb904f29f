// Package mqtt reports the agent's progress to fleet monitoring over MQTT
// (github.com/eclipse/paho.mqtt.golang) and receives remote commands.
//
// Topics, with prefix P (default "faceverify") and device id D:
//
//	P/D/status             retained {"device_id","state":"online"|"offline","time"}; the Last Will
//	                       (retained, QoS 1) sets "offline" when the connection drops uncleanly
//	P/D/events             one uplink.Event per session state change, QoS 1, not retained
//	P/D/cmd/<name>         commands to the device (e.g. "verify"), JSON
//	P/D/cmd/<name>/reply   the device's JSON answer to each command
//
// Events carry states and reasons only: no images, embeddings, scores or
// tokens. Publish never blocks: events wait in a bounded queue that drops the
// oldest when full (Stats.Dropped); the client reconnects by itself.
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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/faceverify/faceverify/uplink"
)

// DefaultPrefix is the topic prefix used when Options.Prefix is empty.
const DefaultPrefix = "faceverify"

// Options configure a Client.
type Options struct {
	// Broker is the broker URL: tcp://host:1883, ssl://host:8883 (also
	// tls://, mqtts://), ws:// or wss://. Required.
	Broker string
	// DeviceID names the device in topics and payloads; also the client id
	// ("faceagent-" + DeviceID), so it must be unique in the fleet.
	DeviceID string
	// Prefix is the first topic level (DefaultPrefix if empty).
	Prefix string
	// QoS of events, status and replies: 0, 1 or 2 (1 recommended).
	QoS byte
	// KeepAlive is the MQTT keepalive interval (default 30s).
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt (default 10s).
	ConnectTimeout time.Duration
	// Username and Password authenticate to the broker (optional).
	Username, Password string
	// CAFile is a PEM bundle of CAs trusted for TLS brokers; the system
	// roots if empty.
	CAFile string
	// QueueSize bounds the events waiting to be sent (default 256).
	QueueSize int
	// DrainTimeout bounds how long Run keeps sending queued events after
	// its context ends (default 2s).
	DrainTimeout time.Duration
	// Version is reported in the online status (optional).
	Version string
	// OpenConn, if set, replaces dialing the broker (tests use it to cut
	// the TCP connection without DISCONNECT). TLS settings are not applied.
	OpenConn func(broker *url.URL) (net.Conn, error)
	// Logger receives connection changes and drops (slog.Default if nil).
	Logger *slog.Logger
}

// Stats counts what a Client did.
type Stats struct {
	Queued    uint64 // events accepted by Publish
	Published uint64 // events the broker acknowledged (QoS ≥ 1) or sent (QoS 0)
	Dropped   uint64 // events dropped because the queue was full or sending kept failing
	Commands  uint64 // commands handled
	Connected bool
}

// Status is the retained payload of the status topic.
type Status struct {
	DeviceID string     `json:"device_id"`
	State    string     `json:"state"` // "online" or "offline"
	Time     *time.Time `json:"time,omitempty"`
	Version  string     `json:"version,omitempty"`
}

// Client is an MQTT progress reporter and command receiver; it implements
// uplink.Publisher. Make one with New, register command handlers with
// Handle, then call Run.
type Client struct {
	opts   Options
	logger *slog.Logger
	tls    *tls.Config

	mu       sync.Mutex
	queue    []uplink.Event
	seq      uint64
	handlers map[string]uplink.CommandHandler
	running  bool

	wake      chan struct{}
	connected chan struct{} // closed while connected; replaced on loss
	cmds      chan command

	queued, published, dropped, commands atomic.Uint64
	isConnected                          atomic.Bool
}

type command struct {
	name    string
	payload []byte
}

var _ uplink.Publisher = (*Client)(nil)

// New checks opts and returns a Client; nothing connects until Run.
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
	if !ValidTopicLevel(opts.DeviceID) {
		return nil, fmt.Errorf("mqtt device id %q: must be a non-empty topic level without '/', '+', '#'", opts.DeviceID)
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.QoS > 2 {
		return nil, fmt.Errorf("mqtt qos %d: must be 0, 1 or 2", opts.QoS)
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 30 * time.Second
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Client{
		opts:      opts,
		logger:    opts.Logger.With("component", "mqtt", "broker", redact(u)),
		handlers:  map[string]uplink.CommandHandler{},
		wake:      make(chan struct{}, 1),
		connected: make(chan struct{}),
		cmds:      make(chan command, 16),
	}
	if opts.CAFile != "" || u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "mqtts" || u.Scheme == "wss" {
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
	}
	return c, nil
}

// ValidTopicLevel reports whether s can be one MQTT topic level: non-empty,
// at most 128 bytes, without '/', '+', '#' or control characters.
func ValidTopicLevel(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r == '/' || r == '+' || r == '#' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func redact(u *url.URL) string {
	v := *u
	v.User = nil
	return v.String()
}

// StatusTopic is P/D/status.
func (c *Client) StatusTopic() string { return c.topic("status") }

// EventsTopic is P/D/events.
func (c *Client) EventsTopic() string { return c.topic("events") }

// CommandTopic is P/D/cmd/name.
func (c *Client) CommandTopic(name string) string { return c.topic("cmd/" + name) }

// ReplyTopic is P/D/cmd/name/reply.
func (c *Client) ReplyTopic(name string) string { return c.topic("cmd/" + name + "/reply") }

func (c *Client) topic(s string) string { return c.opts.Prefix + "/" + c.opts.DeviceID + "/" + s }

// Handle registers h for commands on CommandTopic(name). Call it before Run.
func (c *Client) Handle(name string, h uplink.CommandHandler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers[name] = h
}

// Publish queues ev, stamped with the device id and the next sequence
// number. It never blocks; when the queue is full the oldest event is
// dropped.
func (c *Client) Publish(ev uplink.Event) {
	c.mu.Lock()
	c.seq++
	ev.Seq = c.seq
	ev.DeviceID = c.opts.DeviceID
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Time = ev.Time.UTC()
	if len(c.queue) >= c.opts.QueueSize {
		c.queue = c.queue[1:]
		c.dropped.Add(1)
		c.logger.Warn("mqtt: event queue full, dropped oldest", "dropped_total", c.dropped.Load())
	}
	c.queue = append(c.queue, ev)
	c.mu.Unlock()
	c.queued.Add(1)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	return Stats{
		Queued: c.queued.Load(), Published: c.published.Load(), Dropped: c.dropped.Load(),
		Commands: c.commands.Load(), Connected: c.isConnected.Load(),
	}
}

// Connected reports whether the client is connected now.
func (c *Client) Connected() bool { return c.isConnected.Load() }

func (c *Client) status(state string) []byte {
	s := Status{DeviceID: c.opts.DeviceID, State: state, Version: c.opts.Version}
	if state == "online" {
		now := time.Now().UTC()
		s.Time = &now
	}
	b, _ := json.Marshal(s)
	return b
}

// Run connects (retrying until ctx ends), keeps the connection, sends queued
// events in order and answers commands. When ctx ends it sends what is
// queued for up to DrainTimeout, publishes the retained "offline" status and
// disconnects cleanly. It returns nil after a clean stop.
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
		SetClientID("faceagent-"+c.opts.DeviceID).
		SetCleanSession(true). // a stale verify command must not replay after a reconnect
		SetKeepAlive(c.opts.KeepAlive).
		SetPingTimeout(min(c.opts.KeepAlive, 10*time.Second)).
		SetConnectTimeout(c.opts.ConnectTimeout).
		SetWriteTimeout(10*time.Second).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2*time.Second).
		SetMaxReconnectInterval(30*time.Second).
		SetOrderMatters(false).
		SetBinaryWill(c.StatusTopic(), c.status("offline"), c.qosForStatus(), true).
		SetOnConnectHandler(c.onConnect).
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
	cl.Connect() // with ConnectRetry the token completes once connected; onConnect takes over

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.serveCommands(ctx, cl) }()

	c.sendLoop(ctx, cl)

	// Shutdown: drain, say goodbye, disconnect.
	drain, cancel := context.WithTimeout(context.Background(), c.opts.DrainTimeout)
	defer cancel()
	if c.isConnected.Load() {
		c.flush(drain, cl)
		t := cl.Publish(c.StatusTopic(), c.qosForStatus(), true, c.status("offline"))
		t.WaitTimeout(time.Second)
	}
	wg.Wait()
	cl.Disconnect(250)
	c.setConnected(false)
	if n := c.pending(); n > 0 {
		c.dropped.Add(uint64(n))
		c.logger.Warn("mqtt: events not sent before shutdown", "count", n)
	}
	return nil
}

// qosForStatus: status and will are sent at least once even at QoS 0 events.
func (c *Client) qosForStatus() byte { return max(c.opts.QoS, 1) }

func (c *Client) onConnect(cl paho.Client) {
	c.logger.Info("mqtt: connected")
	t := cl.Publish(c.StatusTopic(), c.qosForStatus(), true, c.status("online"))
	if !t.WaitTimeout(5*time.Second) || t.Error() != nil {
		c.logger.Warn("mqtt: online status not acknowledged", "err", t.Error())
	}
	c.mu.Lock()
	names := make([]string, 0, len(c.handlers))
	for name := range c.handlers {
		names = append(names, name)
	}
	c.mu.Unlock()
	for _, name := range names {
		name := name
		st := cl.Subscribe(c.CommandTopic(name), c.opts.QoS, func(_ paho.Client, m paho.Message) {
			select {
			case c.cmds <- command{name: name, payload: append([]byte(nil), m.Payload()...)}:
			default:
				c.logger.Warn("mqtt: command queue full, command dropped", "command", name)
			}
		})
		if !st.WaitTimeout(5*time.Second) || st.Error() != nil {
			c.logger.Error("mqtt: subscribe failed", "topic", c.CommandTopic(name), "err", st.Error())
		}
	}
	c.setConnected(true)
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

func (c *Client) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

func (c *Client) peek() (uplink.Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return uplink.Event{}, false
	}
	return c.queue[0], true
}

// pop removes ev from the head of the queue if it is still there (it may
// have been dropped as the oldest meanwhile).
func (c *Client) pop(ev uplink.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) > 0 && c.queue[0].Seq == ev.Seq {
		c.queue = c.queue[1:]
	}
}

// sendLoop sends queued events in order while connected, until ctx ends.
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

// maxSendTries is how often one event is tried before it is dropped.
const maxSendTries = 3

// flush sends queued events until the queue is empty (true) or the
// connection or ctx is lost (false).
func (c *Client) flush(ctx context.Context, cl paho.Client) bool {
	tries := 0
	for {
		ev, ok := c.peek()
		if !ok {
			return true
		}
		if ctx.Err() != nil || !c.isConnected.Load() {
			return false
		}
		payload, _ := json.Marshal(ev)
		t := cl.Publish(c.EventsTopic(), c.opts.QoS, false, payload)
		sent := t.WaitTimeout(5*time.Second) && t.Error() == nil
		if sent {
			c.published.Add(1)
			c.pop(ev)
			tries = 0
			continue
		}
		tries++
		if tries >= maxSendTries {
			c.pop(ev)
			c.dropped.Add(1)
			c.logger.Warn("mqtt: event dropped after failed sends", "seq", ev.Seq, "err", t.Error())
			tries = 0
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// serveCommands runs command handlers one at a time and publishes replies.
func (c *Client) serveCommands(ctx context.Context, cl paho.Client) {
	for {
		select {
		case <-ctx.Done():
			return
		case cmd := <-c.cmds:
			c.mu.Lock()
			h := c.handlers[cmd.name]
			c.mu.Unlock()
			if h == nil {
				continue
			}
			c.commands.Add(1)
			hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			reply := h(hctx, cmd.payload)
			cancel()
			if reply == nil {
				continue
			}
			t := cl.Publish(c.ReplyTopic(cmd.name), c.opts.QoS, false, reply)
			if !t.WaitTimeout(5*time.Second) || t.Error() != nil {
				c.logger.Warn("mqtt: command reply not sent", "command", cmd.name, "err", t.Error())
			}
		}
	}
}

// TopicPrefixValid reports whether p can be used as Options.Prefix: one or
// more topic levels without wildcards, not starting or ending with '/'.
func TopicPrefixValid(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.HasPrefix(p, "$") {
		return false
	}
	for _, lvl := range strings.Split(p, "/") {
		if !ValidTopicLevel(lvl) {
			return false
		}
	}
	return true
}
